"""The search's progress line (tqdm on stderr), or a stand-in that prints only failures."""

from __future__ import annotations

import sys
from typing import Any


class _Bar:
    """A do-nothing stand-in for tqdm."""

    def update(self, n: int) -> None: ...
    def set_postfix(self, **kw: Any) -> None: ...
    def write(self, text: str) -> None:
        print(text, file=sys.stderr)
    def close(self) -> None: ...


def progress(show: bool, study: str, total: int, initial: int) -> Any:
    """A progress bar over ``total`` COMPLETE trials, ``initial`` done already (``show=False``: none)."""
    if not show:
        return _Bar()
    from tqdm import tqdm

    return tqdm(total=total, initial=min(initial, total), desc=f"search {study}",
                unit="trial", file=sys.stderr, dynamic_ncols=True)


def front_size(study: Any) -> int:
    """Trials on the study's own front so far (0 before the first COMPLETE one)."""
    try:
        return len(study.best_trials)
    except Exception:  # noqa: BLE001 - no complete trial yet
        return 0
