"""Exposure: what a user-supplied file or a cluster peer could make nas-sr do.

* YAML goes through YAML's safe loader only: ``!!python/...`` tags are refused, with a clear error.
* No pickle is read from a user's path without an explicit flag: ``torch.load`` always with
  ``weights_only=True``; the edge-SR table (a pickle) only with ``nas-sr import-esr --trust-pickle``.
* Ray's token authentication stays on for the local cluster a search starts.
"""

from __future__ import annotations

import ast
import functools
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "nas_sr"


class _Payload:
    """Unpickling this runs ``open(marker, 'w')``: the proof that a file ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@functools.lru_cache(maxsize=1)
def _all_calls() -> tuple[tuple[Path, str, ast.Call], ...]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                found.append((path, ast.unparse(node.func), node))
    return tuple(found)


def _calls(name: str) -> list[tuple[Path, ast.Call]]:
    """Every call of ``name`` (e.g. ``torch.load``) in the package's source."""
    return [(path, node) for path, func, node in _all_calls() if func == name]


def test_yaml_python_tags_are_refused_and_run_nothing(bad_input, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    space = tmp_path / "space.yaml"
    space.write_text(f"!!python/object/apply:builtins.open ['{marker}', 'w']\n")
    bad_input(["space", "show", str(space)], [f"{space}:1:1: invalid YAML", "python/object/apply:builtins.open"])
    assert not marker.exists()


def test_yaml_is_read_by_the_safe_loader_only() -> None:
    import yaml

    from nas_sr.space import loader

    unsafe = [f"{p.name}:{c.lineno}" for name in ("yaml.unsafe_load", "yaml.full_load", "yaml.load_all")
              for p, c in _calls(name)]
    assert not unsafe, f"unsafe YAML loading at {unsafe}"
    for path, call in _calls("yaml.load"):  # an explicit Loader, which must be a SafeLoader
        loader_arg = next(k.value for k in call.keywords if k.arg == "Loader")
        assert issubclass(getattr(loader, ast.unparse(loader_arg)), yaml.SafeLoader), f"{path.name}:{call.lineno}"


def test_torch_load_is_always_weights_only() -> None:
    calls = _calls("torch.load")
    assert calls, "the audit found no torch.load at all: has the package moved?"
    bad = [f"{p.relative_to(PACKAGE)}:{c.lineno}" for p, c in calls
           if not any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                      for k in c.keywords)]
    assert not bad, f"torch.load without weights_only=True at {bad}"


def test_only_the_edge_sr_table_is_unpickled_and_only_on_request() -> None:
    readers = [f"{p.relative_to(PACKAGE)}" for name in ("pickle.load", "pickle.loads", "pd.read_pickle",
                                                         "pandas.read_pickle", "cloudpickle.load", "joblib.load")
               for p, _ in _calls(name)]
    assert readers == ["data/esr_table.py"], readers  # the edge-SR table reader (moved from browse/reference.py)
    allow = [f"{p.relative_to(PACKAGE)}:{c.lineno}" for p, c in _calls("np.load") + _calls("numpy.load")
             if any(k.arg == "allow_pickle" for k in c.keywords)]
    assert not allow, allow


def test_weights_file_with_code_is_refused_and_runs_nothing(bad_input, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    marker, weights = tmp_path / "ran", tmp_path / "evil.pt"
    import torch

    torch.save({"filter.weight": _Payload(marker)}, weights)
    (tmp_path / "set").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "set" / "a.png")
    bad_input(["evaluate", "--model", "eSR-TM_s2_K3_C4", "--weights", str(weights), "--dataset", str(tmp_path / "set")],
              [f"{weights}: not a readable PyTorch weights file (UnpicklingError"])
    assert not marker.exists()


def test_import_esr_needs_trust_pickle(bad_input, tmp_path: Path) -> None:
    marker, table = tmp_path / "ran", tmp_path / "tests.pkl"
    table.write_bytes(pickle.dumps({"eSR-TM_s2_K7_C8": _Payload(marker)}))
    url = f"sqlite:///{tmp_path / 'ref.db'}"
    bad_input(["import-esr", str(table), "--storage", url],
              [f"{table}: a pickle file can run code when it is read; pass --trust-pickle"])
    assert not marker.exists() and not (tmp_path / "ref.db").exists()


@pytest.mark.parametrize("make, fragment", [
    (lambda d: d / "none.pkl", "none.pkl: no such file"),
    (lambda d: d, "is a folder, not the edge-SR table"),
    (lambda d: (d / "t.pkl").write_text("not a pickle") and d / "t.pkl", "t.pkl: not a readable pickle (UnpicklingError"),
    (lambda d: (d / "e.pkl").write_bytes(b"") or d / "e.pkl", "e.pkl: not a readable pickle (EOFError"),
    (lambda d: (d / "l.pkl").write_bytes(pickle.dumps([1, 2])) and d / "l.pkl", "l.pkl: expected a dict model_id -> metrics, got list"),
], ids=["missing", "folder", "text", "empty", "a-list"])
def test_import_esr_trusted_but_bad_table(bad_input, tmp_path: Path, make, fragment) -> None:
    table = make(tmp_path)
    bad_input(["import-esr", str(table), "--trust-pickle", "--storage", f"sqlite:///{tmp_path / 'ref.db'}"], [fragment])


_RAY_PROBE = """
import json, os, sys
from nas_sr.search.driver import SearchOptions, _Runner
from nas_sr.space import SearchSpace
from ray._private.authentication.authentication_utils import is_token_auth_enabled
space = SearchSpace.from_dict({"name": "t", "scales": [2], "branches": [{"family": "bicubic"}]})
runner = _Runner(SearchOptions(space=space, train_images=[], val_sets={}, workers=1), {})
try:
    print(json.dumps({"token_auth": bool(is_token_auth_enabled()), "mode": os.environ.get("RAY_AUTH_MODE")}))
finally:
    runner.close()
"""


@pytest.mark.slow
def test_search_ray_keeps_token_authentication(tmp_path: Path) -> None:
    """The local Ray a search starts has token authentication on (Ray's default for a new local
    cluster: nas-sr never sets RAY_AUTH_MODE), and the token lives in the user's ~/.ray."""
    import json

    assert not [p.name for p in PACKAGE.rglob("*.py") if "RAY_AUTH_MODE" in p.read_text(encoding="utf-8")]
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(PACKAGE.parent))
    done = subprocess.run([sys.executable, "-c", _RAY_PROBE], capture_output=True, text=True, env=env, timeout=180,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"token_auth": True, "mode": "token"}
    token = tmp_path / ".ray" / "auth_token"
    assert token.is_file() and len(token.read_text().strip()) >= 32
