"""Proxy mode of eSR-Bench: the strategy sees brief-training PSNR, the measure stays the truth.

A proxy table (``benchmarks/data/esr_x2_proxy.csv``, made by ``benchmarks/proxy_table.py``) holds,
for every configuration of a scale, the PSNR that the project's own trainer reaches in a few
thousand steps, one row per (configuration, step budget, training seed). In proxy mode each trial
of a run is told that value instead of the table's fully trained PSNR; costs are known exactly,
as in a real search. A row whose training failed (``status`` other than ``ok``) makes the trial
FAIL, as it would in a search.

A configuration's first evaluation sees its seed-0 training (what ``nas-sr search --seed 0``
trains), a repeat the next seed's where the table has several. The measure (see
:meth:`nas_sr.bench.esr.EsrInstance.reported_curve`) is the table's hypervolume of the front the
search would report: the trials that no other trial dominates by the values it saw.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

#: Columns a proxy table must have (``benchmarks/proxy_table.py`` writes more).
REQUIRED = ("config", "steps", "seed", "status", "psnr")


@dataclass(frozen=True)
class ProxyTable:
    """Brief-training PSNR at one step budget: config key -> one value per training seed, seeds in
    ascending order (None: that training failed)."""

    source: str
    steps: int
    values: Mapping[str, tuple[float | None, ...]]

    def value(self, key: str, repeat: int = 0) -> float | None:
        """The PSNR the ``repeat``-th evaluation of ``key`` sees (0: the first; seeds in turn).

        >>> ProxyTable("t.csv", 4000, {"k": (30.0, 30.2)}).value("k", 3)
        30.2
        """
        seeds = self.values[key]
        return seeds[repeat % len(seeds)]

    def seeds(self, key: str) -> int:
        return len(self.values[key])


def budgets(path: str | Path) -> list[int]:
    """The step budgets a proxy table holds, ascending."""
    return sorted({steps for _, steps, _, _ in _rows(path)})


def load_proxy(path: str | Path, steps: int | None = None) -> ProxyTable:
    """The proxy table of ``path`` at ``steps`` (default: 4000, the trainer's default budget, when the
    file has it, else its largest). ValueError naming the file, line, field and value on bad input.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write("config,steps,seed,status,psnr\\nk,1000,0,ok,30.5\\nk,4000,1,ok,31.25\\n"
    ...                 "k,4000,0,ok,31.0\\nj,4000,0,failed: diverged,\\n")
    >>> table = load_proxy(f.name)
    >>> table.steps, table.values["k"], table.values["j"]
    (4000, (31.0, 31.25), (None,))
    >>> os.unlink(f.name)
    """
    from nas_sr.train import TrainSettings

    rows = _rows(path)
    present = sorted({s for _, s, _, _ in rows})
    if not present:
        raise ValueError(f"{path}: no rows")
    if steps is None:
        default = TrainSettings().max_steps
        steps = default if default in present else present[-1]
    elif steps not in present:
        raise ValueError(f"{path}: no rows at steps={steps} (the file has {', '.join(map(str, present))})")
    by_key: dict[str, dict[int, float | None]] = {}
    for key, s, seed, value in rows:
        if s == steps:
            by_key.setdefault(key, {})[seed] = value  # a later row of the same seed replaces an earlier
    values = {k: tuple(v for _, v in sorted(seeds.items())) for k, seeds in by_key.items()}
    return ProxyTable(str(path), steps, values)


def _rows(path: str | Path) -> list[tuple[str, int, int, float | None]]:
    path = Path(path)
    try:
        handle = open(path, newline="")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the proxy table ({exc.strerror or exc})") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: not a proxy table: no column {', '.join(missing)} "
                             f"(expected {', '.join(REQUIRED)}, as benchmarks/proxy_table.py writes)")
        out = []
        for line, row in enumerate(reader, 2):
            def bad(field: str, rule: str) -> ValueError:
                return ValueError(f"{path}:{line}: {field} = {row.get(field)!r} ({rule})")

            try:
                steps, seed = int(row["steps"]), int(row["seed"])
            except (TypeError, ValueError):
                raise bad("steps" if not str(row["steps"]).strip().isdigit() else "seed", "expected an integer")
            if steps < 1 or seed < 0:
                raise bad("steps" if steps < 1 else "seed", "out of range")
            value: float | None = None
            if row["status"] == "ok":
                try:
                    value = float(row["psnr"])
                except (TypeError, ValueError):
                    value = math.nan
                if not math.isfinite(value):
                    raise bad("psnr", "a finite number of dB where status is ok")
            out.append((row["config"], steps, seed, value))
    return out
