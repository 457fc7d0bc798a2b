"""Resolving what a user types for a model: an edge-SR id, a family name or a JSON config."""

from __future__ import annotations

import json
from typing import Any

from nas_sr.models.esr_ids import config_from_esr_id
from nas_sr.models.registry import ConfigError, canonical_config, family_names, preset_config


def config_from_spec(spec: str, scale: int | None = None) -> dict[str, Any]:
    """The canonical config of an edge-SR id (``eSR-TM_s2_K7_C8``), a preset or family name
    (e.g. ``vapsr-s``; a family name means its defaults) or a JSON config string.

    ``scale`` fills a config that has none and must agree with one that has.

    >>> config_from_spec('{"family": "espcn", "width1": 12, "width2": 24}', scale=3)["scale"]
    3
    >>> config_from_spec("ESPCN_s2_D12_S24")["family"]
    'espcn'
    """
    text = spec.strip()
    if text.startswith("{"):
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"model config {spec!r} is not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(config, dict):
            raise ConfigError(f"model config {spec!r} must be a JSON object")
    elif (preset := preset_config(text)) is not None:
        config = preset
    else:
        try:
            config = config_from_esr_id(text)
        except ConfigError as exc:
            raise ConfigError(f"{exc}; a model may also be a preset or family name "
                              f"({', '.join(family_names())}) or a JSON config") from None
    if scale is not None:
        if "scale" in config and config["scale"] != scale:
            raise ConfigError(f"model {spec!r} is for scale {config['scale']}, not {scale}")
        config = {**config, "scale": scale}
    if "scale" not in config:
        raise ConfigError(f"model {spec!r} names no scale: add \"scale\" or pass --scale")
    return canonical_config(config)
