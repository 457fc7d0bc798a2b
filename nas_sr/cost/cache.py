"""A small JSON file cache of :class:`~nas_sr.cost.Cost` values.

Entries are keyed by (canonical config, device description incl. dtype — or none for costs
without latency —, output resolution). A missing file reads as empty; an unreadable or corrupt
one too, with one warning. Writes re-read the file, merge and replace it atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from nas_sr.cost.counting import Resolution
from nas_sr.cost.result import Cost

if TYPE_CHECKING:
    from nas_sr.cost.latency import DeviceDescription

_VERSION = 1


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/nas-sr/costs.json``, by default ``~/.cache/nas-sr/costs.json``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nas-sr" / "costs.json"


class CostCache:
    """Costs per (config, device, resolution) in the JSON file ``path``.

    >>> import tempfile, pathlib
    >>> from nas_sr.cost import Cost
    >>> cache = CostCache(pathlib.Path(tempfile.mkdtemp()) / "costs.json")
    >>> config = {"family": "esr-max", "scale": 2, "kernel_size": 3, "channels": 1}
    >>> cache.get(config, (1280, 720)) is None
    True
    >>> cache.put(config, Cost(36, 829440, (1280, 720)))
    >>> CostCache(cache.path).get(config, (1280, 720)).flops
    829440
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self._entries: dict[str, Any] | None = None
        self._warned = False

    @staticmethod
    def key(config: Mapping[str, Any], resolution: Resolution, device: "DeviceDescription | None" = None) -> str:
        """The entry key: canonical config JSON, device key (or ``-``) and ``WxH``."""
        from nas_sr.models.registry import config_key

        return f"{config_key(config)} @ {device.key() if device else '-'} @ {resolution[0]}x{resolution[1]}"

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != _VERSION or not isinstance(data.get("entries"), dict):
                raise ValueError("not a nas-sr cost cache")
            return data["entries"]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            if not self._warned:
                self._warned = True
                warnings.warn(f"ignoring unreadable cost cache {self.path}: {exc}", stacklevel=3)
            return {}

    @property
    def entries(self) -> dict[str, Any]:
        """The stored entries (read from the file once)."""
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def get(self, config: Mapping[str, Any], resolution: Resolution,
            device: "DeviceDescription | None" = None) -> "Cost | None":
        """The stored cost, or ``None``."""
        data = self.entries.get(self.key(config, resolution, device))
        try:
            return Cost.from_dict(data) if data is not None else None
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, config: Mapping[str, Any], cost: "Cost") -> None:
        """Store ``cost`` under its config, resolution and (latency's) device, and save the file."""
        key = self.key(config, cost.resolution, cost.latency.device if cost.latency else None)
        self._entries = {**self._read(), **(self._entries or {}), key: cost.as_dict()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".costs-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump({"version": _VERSION, "entries": self._entries}, file, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise

    def get_or_compute(self, config: Mapping[str, Any], resolution: Resolution, compute: Callable[[], "Cost"],
                       device: "DeviceDescription | None" = None) -> "Cost":
        """The stored cost, else ``compute()``, stored (under the cost's own resolution and device)."""
        cached = self.get(config, resolution, device)
        if cached is None:
            cached = compute()
            self.put(config, cached)
        return cached
