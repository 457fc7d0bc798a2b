"""Shared fixtures. Data beside the project (``../shared``) is found through ``NAS_SR_SHARED``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("NAS_SR_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data folder; tests that use it skip, saying why, when it is absent."""
    if not (SHARED / "datasets").is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set NAS_SR_SHARED to its path)")
    return SHARED


@pytest.fixture(scope="session")
def esr_table(shared: Path) -> dict:
    """The official edge-SR results table (model id -> metrics)."""
    import pickle

    with open(shared / "esr" / "tests.pkl", "rb") as f:
        return pickle.load(f)  # trusted test data shipped beside the project


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch CPU thread for a module's tests.

    On a small shared CPU two OpenMP threads that wait on each other under load make convs
    10-100x slower than one thread does (a 61x47 EMT forward: 20 s vs 1.4 s).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cli(capsys):
    """Run ``nas-sr ARGS...`` in-process; returns (exit status, stdout, stderr)."""
    from nas_sr.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run
