"""A study written by an earlier release (``tests/data/old_study/``, made by
``tests/data/make_old_study.sh`` at commit 143a493, before ``nas_sr/study/`` existed) opens, lists,
fronts and serves exactly as that release did: every output below is compared with
``tests/data/old_study_expected.json``, recorded by that release.

To re-record after an intended change of output: ``NAS_SR_RECORD=1 pytest tests/test_old_study.py``
(and say why in the commit).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import urllib.request
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
EXPECTED = DATA / "old_study_expected.json"


def _round(value):
    """Floats to 6 significant digits (what the outputs are compared at), recursively."""
    if isinstance(value, float):
        return value if not math.isfinite(value) else float(f"{value:.6g}")
    if isinstance(value, dict):
        return {str(k): _round(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    return value


def _figure(body: dict) -> dict:
    """A plotly figure's traces as names, trial numbers and coordinates (typed arrays decoded)."""
    import base64

    import numpy as np

    def values(data):
        if isinstance(data, dict) and "bdata" in data:
            return np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"])).tolist()
        return list(data) if data is not None else None

    return {"traces": [{"name": t.get("name"), "mode": t.get("mode"), "customdata": values(t.get("customdata")),
                        "x": values(t.get("x")), "y": values(t.get("y"))} for t in body["figure"]["data"]],
            "meta": body["meta"]}


@pytest.fixture(scope="module")
def old_study(tmp_path_factory) -> str:
    """A copy of the old study (the fixture itself is never written), as a SQLite URL."""
    folder = tmp_path_factory.mktemp("old")
    shutil.copytree(DATA / "old_study", folder / "old_study")
    return f"sqlite:///{folder / 'old_study' / 'study.db'}"


@pytest.fixture(scope="module")
def snapshot(old_study, tmp_path_factory) -> dict:
    """Everything compared: CLI listings, the pandas table, fronts, hypervolumes, the served endpoints."""
    import contextlib
    import io

    from nas_sr.browse.query import open_study
    from nas_sr.browse.serve import make_server
    from nas_sr.cli import main

    out: dict = {}

    def cli(*argv: str) -> str:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            assert main(list(argv)) == 0
        return buffer.getvalue()

    base = ("--study", "old", "--storage", old_study)
    out["cli_trials"] = json.loads(cli("trials", *base, "--format", "json"))
    out["cli_trials_table"] = cli("trials", *base)
    out["cli_pareto"] = json.loads(cli("pareto", *base, "--format", "json"))
    out["cli_pareto_strict"] = json.loads(cli("pareto", *base, "--format", "json", "--tolerance", "0"))
    out["cli_pareto_psnr_params"] = json.loads(cli("pareto", *base, "--format", "json",
                                                   "--objectives", "psnr,params"))

    view = open_study("old", old_study)
    frame = view.trials()
    out["trials_columns"] = {c: str(t) for c, t in frame.dtypes.items()}
    out["trials_csv"] = frame.drop(columns=[c for c in frame.columns if "datetime" in c or "duration" in c],
                                   errors="ignore").to_csv()
    out["pareto"] = [int(n) for n in view.pareto().index]
    out["pareto_psnr_params"] = [int(n) for n in view.pareto(["psnr@val", "params"]).index]
    out["pareto_device"] = [int(n) for n in view.pareto(["psnr@val", "latency_ms@test-cpu"]).index]
    out["hypervolume"] = view.hypervolume(reference={"psnr@val": 15, "latency_ms": 1, "params": 1000})
    out["hypervolume_history"] = view.hypervolume_history().tolist() if hasattr(
        view.hypervolume_history(), "tolist") else list(view.hypervolume_history())

    server = make_server("old", old_study, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        def get(path: str):
            with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=120) as r:
                body = r.read()
                return r.status, json.loads(body) if r.headers["Content-Type"].startswith("application/json") \
                    else body.decode()

        out["api_columns"] = get("/api/columns")[1]
        out["api_front"] = _figure(get("/api/front?x=params&y=psnr_val")[1])
        out["api_front_device"] = _figure(get("/api/front?x=latency_ms%40test-cpu&y=psnr_val&hidden=1")[1])
        out["api_hypervolume"] = _figure(get("/api/hypervolume")[1])
        trial = get("/api/trial/3")[1]
        for crop in (trial.get("crops") or {}).get("crops", []):
            crop.pop("uri")  # PNG bytes: their PSNR is compared instead
        out["api_trial_3"] = trial
        status, page = get("/")
        out["page_status"] = status
        out["page_title"] = page.split("<title>")[1].split("</title>")[0] if "<title>" in page else None
        status, page = get("/trial/0")
        out["trial_page_status"] = status
    finally:
        server.shutdown()
        server.server_close()
    return _round(json.loads(json.dumps(out, default=str)))


def test_old_study_reads_as_recorded(snapshot):
    if os.environ.get("NAS_SR_RECORD"):
        EXPECTED.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n")
    expected = json.loads(EXPECTED.read_text())
    assert sorted(snapshot) == sorted(expected)
    for key in expected:
        assert snapshot[key] == expected[key], key


def test_old_study_holds_what_it_should(snapshot):
    """The recorded outputs are about a real study (not an empty one that would match any release)."""
    assert len(snapshot["cli_trials"]) == 8
    assert {row["state"] for row in snapshot["cli_trials"]} == {"COMPLETE"}
    assert [row["feasible"] for row in snapshot["cli_trials"]].count(False) == 2
    assert snapshot["pareto"] and snapshot["hypervolume"] > 0
    assert "latency_ms@test-cpu" in snapshot["trials_columns"]
    assert snapshot["api_trial_3"]["weights"] is True and snapshot["api_trial_3"]["crops"]["crops"]
    assert snapshot["page_status"] == 200 and snapshot["trial_page_status"] == 200


def test_old_trials_read_back_as_records(old_study):
    """Each old trial reads as a TrialRecord holding every attribute it has, in its place."""
    from nas_sr.study import load_existing_study, read_record

    study = load_existing_study("old", old_study)
    for trial in study.trials:
        record = read_record(trial)
        assert record.attrs() == trial.user_attrs  # nothing lost, nothing renamed
        assert record.config_dict()["family"] == record.family == trial.user_attrs["family"]
        assert set(record.metrics) == {"psnr_val", "ssim_val"}
        assert {"params", "flops", "latency_ms", "device", "resolution"} <= set(record.costs)
        assert {"steps", "seconds", "final_loss", "curve"} <= set(record.training)
        assert {"seed", "sampler", "nas_sr_version", "weights_artifact", "hostname"} <= set(record.provenance)
    profiled = [read_record(t) for t in study.trials if "latency_ms@test-cpu" in t.user_attrs]
    assert len(profiled) == 2 and all("latency_device@test-cpu" in r.costs for r in profiled)
