"""The search's progress line (tqdm on stderr), or a stand-in that prints only failures."""

from __future__ import annotations

import sys
import time
from typing import Any

#: Seconds between reads of the front's size for the progress bar (each reads every trial).
FRONT_EVERY_S = 5.0


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


class FrontOnBar:
    """The front's size the bar shows, read at most every :data:`FRONT_EVERY_S` (it reads every
    trial: with many workers, reading it at each result cost more than the trials' own records),
    and never without a bar."""

    def __init__(self, show: bool) -> None:
        self.show, self.when, self.size = show, -FRONT_EVERY_S, 0

    def __call__(self, study: Any) -> int:
        if self.show and time.monotonic() - self.when > FRONT_EVERY_S:
            self.when, self.size = time.monotonic(), front_size(study)
        return self.size
