"""Model ids of the edge-SR release (``eSR-TM_s2_K7_C8``, ``FSRCNN_s3_D56_S12_M4``, ...) <-> configs."""

from __future__ import annotations

import re
from typing import Any, Mapping

from nas_sr.models.registry import ConfigError, canonical_config

# id prefix -> (family, id letter -> hyper-parameter)
_ID_FAMILIES: dict[str, tuple[str, dict[str, str]]] = {
    "Bicubic": ("bicubic", {}),
    "eSR-MAX": ("esr-max", {"K": "kernel_size", "C": "channels"}),
    "eSR-TM": ("esr-tm", {"K": "kernel_size", "C": "channels"}),
    "eSR-TR": ("esr-tr", {"K": "kernel_size", "C": "channels"}),
    "eSR-CNN": ("esr-cnn", {"C": "channels", "D": "width1", "S": "width2"}),
    "ESPCN": ("espcn", {"D": "width1", "S": "width2"}),
    "FSRCNN": ("fsrcnn", {"D": "features", "S": "shrink", "M": "mapping_layers"}),
}
_ID = re.compile(r"^(?P<prefix>[A-Za-z-]+)_s(?P<scale>\d+)(?P<rest>(?:_[A-Z]\d+)*)$")


def config_from_esr_id(model_id: str) -> dict[str, Any]:
    """The config of an edge-SR model id (these models work on the Y channel).

    >>> config_from_esr_id("eSR-TM_s2_K7_C8")
    {'channels': 8, 'color': 'y', 'family': 'esr-tm', 'kernel_size': 7, 'scale': 2}
    """
    match = _ID.match(model_id)
    if not match or match["prefix"] not in _ID_FAMILIES:
        raise ConfigError(
            f"{model_id!r} is not an edge-SR model id (e.g. eSR-TM_s2_K7_C8, ESPCN_s2_D12_S24; "
            f"families: {', '.join(_ID_FAMILIES)})"
        )
    family, letters = _ID_FAMILIES[match["prefix"]]
    values = {part[0]: int(part[1:]) for part in match["rest"].split("_") if part}
    if set(values) != set(letters):
        raise ConfigError(
            f"{model_id!r}: {match['prefix']} ids take {', '.join(letters) or 'no'} fields after the scale"
        )
    config: dict[str, Any] = {"family": family, "scale": int(match["scale"]), "color": "y"}
    config.update({letters[k]: v for k, v in values.items()})
    return canonical_config(config)


def esr_id_from_config(config: Mapping[str, Any]) -> str:
    """The edge-SR id of a Y-channel config of one of the edge-SR release's families.

    >>> esr_id_from_config(config_from_esr_id("FSRCNN_s3_D56_S12_M4"))
    'FSRCNN_s3_D56_S12_M4'
    """
    full = canonical_config(config)
    for prefix, (family, letters) in _ID_FAMILIES.items():
        if family == full["family"]:
            fields = "".join(f"_{k}{full[v]}" for k, v in letters.items())
            return f"{prefix}_s{full['scale']}{fields}"
    raise ConfigError(f"family {full['family']!r} has no edge-SR id")
