"""The edge-SR release's results table (``tests.pkl``: every released model's PSNR/SSIM per test set,
parameters and speed per device), read only when the caller vouches for the file. eSR-Bench
(:mod:`nas_sr.bench.esr`) and the reference study (:mod:`nas_sr.browse.reference`) read it here."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any


def load_table(path: "str | Path", trust_pickle: bool = False) -> dict[str, dict[str, Any]]:
    """The edge-SR table ``tests.pkl`` (a pickled dict ``model_id -> metrics``).

    Reading a pickle can run any code the file holds, so it is read only with ``trust_pickle``
    (``nas-sr import-esr --trust-pickle``): say so for the release's own file only.

    >>> load_table("tests.pkl")
    Traceback (most recent call last):
    ...
    ValueError: tests.pkl: a pickle file can run code when it is read; pass --trust-pickle if it is the edge-SR release's tests.pkl
    """
    if not trust_pickle:
        raise ValueError(f"{path}: a pickle file can run code when it is read; pass --trust-pickle if it is "
                         "the edge-SR release's tests.pkl")
    try:
        with open(path, "rb") as f:
            table = pickle.load(f)  # noqa: S301 - the user vouched for this file (--trust-pickle)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder, not the edge-SR table (tests.pkl)") from None
    except Exception as exc:  # noqa: BLE001 - pickle raises many types for a foreign or truncated file
        raise ValueError(f"{path}: not a readable pickle ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:120]})") from None
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected a dict model_id -> metrics, got {type(table).__name__}")
    return table
