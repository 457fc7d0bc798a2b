"""Registry of model families, and building a network from a config dict."""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any, Mapping

from nas_sr.models.base import Family

if TYPE_CHECKING:
    from torch import nn

_FAMILIES: dict[str, Family] = {}
# Modules whose import registers the built-in families.
_BUILTIN_MODULES = (
    "nas_sr.models.bicubic",
    "nas_sr.models.edge_sr",
    "nas_sr.models.emt",
    "nas_sr.models.espcn",
    "nas_sr.models.fsrcnn",
    "nas_sr.models.hitsr",
    "nas_sr.models.pan",
    "nas_sr.models.rlfn",
    "nas_sr.models.span",
    "nas_sr.models.vapsr",
)
_loaded = False


class ConfigError(ValueError):
    """A model config that names an unknown family or holds a bad value."""


def register_family(cls: type[Family]) -> type[Family]:
    """Class decorator that makes a :class:`Family` subclass buildable by name."""
    if cls.name in _FAMILIES:
        raise ValueError(f"model family {cls.name!r} is registered twice")
    _FAMILIES[cls.name] = cls()
    return cls


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)


def family_names() -> list[str]:
    """Names of the registered families.

    >>> "esr-tm" in family_names()
    True
    """
    _load_builtins()
    return sorted(_FAMILIES)


def get_family(name: str) -> Family:
    """The family registered under ``name``."""
    _load_builtins()
    try:
        return _FAMILIES[name]
    except (KeyError, TypeError):  # TypeError: a list or dict where a name belongs
        raise ConfigError(
            f"unknown model family {name!r} (known: {', '.join(sorted(_FAMILIES))})"
        ) from None


def preset_config(name: str) -> dict[str, Any] | None:
    """The config (without scale) of a named preset such as ``vapsr-s``, or None.

    A family's own name is a preset too: its defaults.
    """
    _load_builtins()
    for family in _FAMILIES.values():
        if name in family.presets:
            return {"family": family.name, **family.presets[name]}
    return {"family": name} if name in _FAMILIES else None


def canonical_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a config and return it complete (defaults filled) with sorted keys.

    >>> canonical_config({"family": "esr-max", "scale": 2, "kernel_size": 3, "channels": 4})
    {'channels': 4, 'color': 'y', 'family': 'esr-max', 'kernel_size': 3, 'scale': 2}
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"a model config must be a mapping, got {config!r}")
    if "family" not in config:
        raise ConfigError(f"model config {dict(config)!r} has no 'family'")
    family = get_family(config["family"])
    full: dict[str, Any] = {"color": family.colors[0], **family.defaults, **config}
    expected = {"family", "scale", "color", *family.hyperparameters}
    unknown = sorted(set(full) - expected)
    if unknown:
        raise ConfigError(
            f"{family.name}: unknown key(s) {', '.join(unknown)} "
            f"(expected: {', '.join(sorted(expected))})"
        )
    missing = sorted(expected - set(full))
    if missing:
        raise ConfigError(f"{family.name}: missing key(s) {', '.join(missing)}")
    if full["scale"] not in family.scales or isinstance(full["scale"], bool):
        raise ConfigError(f"{family.name}: scale={full['scale']!r} is not one of {family.scales}")
    if full["color"] not in family.colors:
        raise ConfigError(f"{family.name}: color={full['color']!r} is not one of {family.colors}")
    for key, kind in family.hyperparameters.items():
        value = full[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = full[key] = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise ConfigError(f"{family.name}: {key}={value!r} is not of type {kind.__name__}")
        if kind is int and value < family.minimum.get(key, 1):
            raise ConfigError(
                f"{family.name}: {key}={value!r} is below its minimum {family.minimum.get(key, 1)}"
            )
    problems = family.check(full)
    if problems:
        raise ConfigError(f"{family.name}: " + "; ".join(problems))
    return dict(sorted(full.items()))


def config_key(config: Mapping[str, Any]) -> str:
    """The canonical JSON text of a config: equal architectures give equal keys."""
    return json.dumps(canonical_config(config), sort_keys=True, separators=(",", ":"))


def build_model(config: Mapping[str, Any]) -> "nn.Module":
    """Build the network that a config describes.

    >>> model = build_model({"family": "esr-tm", "scale": 2, "kernel_size": 7, "channels": 8})
    >>> sum(p.numel() for p in model.parameters())
    3136
    """
    full = canonical_config(config)
    return get_family(full["family"]).build(full)


def deploy_model(config: Mapping[str, Any], model: "nn.Module") -> "nn.Module":
    """The network of ``config`` as it is deployed: ``model`` re-parameterised where its family
    trains another form (a merged copy; ``model`` is left as it is), else ``model`` itself.

    Every cost, export and profile measures this form; training runs ``model``.

    >>> config = {"family": "span", "scale": 4}
    >>> train = build_model(config)
    >>> [sum(p.numel() for p in m.parameters()) for m in (train, deploy_model(config, train))]
    [634048, 150688]
    """
    return get_family(config["family"]).deploy(model)

