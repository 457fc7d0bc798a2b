"""Whether neighbouring latencies of one device label differ by more than their measurement noise."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas_sr.profile.record import profile_keys

if TYPE_CHECKING:
    import pandas as pd


def within_noise(frame: "pd.DataFrame", label: str, factor: float = 1.0) -> "pd.Series":
    """For each row of ``frame`` (e.g. ``open_study(...).pareto()``) with a latency for ``label``:
    True when the next faster or next slower row's median is within ``factor`` times the larger of
    the two inter-quartile ranges of its own, i.e. the two cannot be told apart on that device.
    Rows without that latency are ``<NA>``. The series is named ``within_noise@<label>``.

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"latency_ms@pi": [10.0, 10.3, 20.0, None],
    ...                       "latency_iqr_ms@pi": [0.5, 0.2, 0.4, None]})
    >>> within_noise(frame, "pi").tolist()
    [True, True, False, <NA>]
    """
    import numpy as np
    import pandas as pd

    keys = profile_keys(label)
    out = pd.Series(pd.NA, index=frame.index, dtype="boolean", name=f"within_noise@{label}")
    if keys["median"] not in frame:
        return out
    median = frame[keys["median"]].astype("float64")
    iqr = frame[keys["iqr"]].astype("float64") if keys["iqr"] in frame else pd.Series(0.0, index=frame.index)
    have = median.notna()
    order = median[have].sort_values(kind="stable")
    values = order.to_numpy()
    spread = iqr.reindex(order.index).fillna(0.0).to_numpy()
    close = np.zeros(len(values), dtype=bool)
    if len(values) > 1:
        gaps = np.abs(np.diff(values)) <= factor * np.maximum(spread[1:], spread[:-1])
        close[1:] |= gaps
        close[:-1] |= gaps
    out.loc[order.index] = close
    return out
