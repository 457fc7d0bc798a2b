"""SR network families behind a registry; build one from a plain config dict."""

from nas_sr.models.base import Family
from nas_sr.models.registry import (
    ConfigError,
    build_model,
    canonical_config,
    config_key,
    deploy_model,
    family_names,
    get_family,
    preset_config,
    register_family,
)

__all__ = [
    "ConfigError",
    "Family",
    "build_model",
    "canonical_config",
    "config_key",
    "deploy_model",
    "family_names",
    "get_family",
    "preset_config",
    "register_family",
]
