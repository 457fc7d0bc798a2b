"""The robustness suite's tally: every bad input tried, how it ended, and trials lost in faults.

``pytest tests/robustness -q`` ends with a summary: cases tried, clear one-line errors, inputs
accepted with a documented conversion, tracebacks (must be 0), vague errors, trials checked and
trials lost (must be 0).
"""

from __future__ import annotations

import traceback
from collections import Counter
from typing import Callable, Sequence

import pytest

TALLY: Counter[str] = Counter()


def _count(outcome: str, n: int = 1) -> None:
    TALLY[outcome] += n


@pytest.fixture
def tally() -> Callable[..., None]:
    """``tally(outcome, n=1)`` counts an outcome: ``cases``, ``clear``, ``accepted``, ``traceback``,
    ``vague``, ``example``, ``trials_checked``, ``trials_lost``."""
    return _count


@pytest.fixture
def accepted(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[str, str]]:
    """Run ``nas-sr ARGV`` for an input that must be accepted: exit 0; returns (stdout, stderr)."""

    def check(argv: Sequence[str]) -> tuple[str, str]:
        code, out, err = run_cli(argv, capsys)
        if code != 0:
            _count("vague")
            pytest.fail(f"exit {code}, want 0:\n{err}")
        _count("accepted")
        return out, err

    return check


def run_cli(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``nas-sr ARGV`` in-process: (exit status, stdout, stderr); an escaping exception is a
    traceback, counted and reported with its stack."""
    from nas_sr.cli import main

    TALLY["cases"] += 1
    try:
        status = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - exactly what this suite looks for
        _count("traceback")
        capsys.readouterr()
        pytest.fail(f"nas-sr {' '.join(argv)} raised:\n{traceback.format_exc()}")
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def bad_input(capsys: pytest.CaptureFixture[str]) -> Callable[..., str]:
    """Run ``nas-sr ARGV``; assert it ends with one stderr line holding every fragment (the
    culprit and its bad value), no traceback, and the exit status; returns that line."""

    def check(argv: Sequence[str], fragments: Sequence[str], status: int = 2) -> str:
        code, out, err = run_cli(argv, capsys)
        if "Traceback (most recent call last)" in err:
            _count("traceback")
            pytest.fail(f"traceback on stderr:\n{err}")
        # Notes (e.g. "evaluated untrained") may come first; the error is the one other line.
        lines = [line for line in err.splitlines() if line.strip() and ": note: " not in line]
        missing = [f for f in fragments if f not in err]
        if code != status or len(lines) != 1 or missing or not err.endswith("\n"):
            _count("vague")
            pytest.fail(f"exit {code} (want {status}); stderr lines {len(lines)} (want 1); missing {missing}:\n{err}")
        _count("clear")
        return lines[0]

    return check


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY:
        return
    t = TALLY
    terminalreporter.section("robustness summary")
    terminalreporter.write_line(
        f"cases tried: {t['cases']}; clear one-line errors: {t['clear']}; accepted with a documented "
        f"conversion: {t['accepted']}; tracebacks: {t['traceback']}; vague errors: {t['vague']}")
    terminalreporter.write_line(f"property examples (random space files): {t['example']}; "
                                f"trials checked: {t['trials_checked']}; trials lost: {t['trials_lost']}")
