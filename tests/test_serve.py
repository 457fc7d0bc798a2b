"""``nas-sr serve`` (issue 6): data endpoints against StudyView, filters, trial pages with crops of a
really trained edge-SR network, validation (400/404/405), read-only database, bind warning, Ctrl-C."""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import optuna
import pytest

from nas_sr.browse.demo import demo_trial_attrs, make_demo_study
from nas_sr.browse.literature import literature_rows
from nas_sr.search.objectives import Objective

optuna.logging.set_verbosity(optuna.logging.WARNING)
DEVICE_COLUMN = "latency_ms@rpi4-fp32"
TRAINED = {"family": "esr-tm", "scale": 2, "color": "y", "kernel_size": 3, "channels": 2}


def build_study(folder: Path) -> tuple[str, int]:
    """A demo search study plus: one COMPLETE trial of a really (briefly) trained eSR-TM with its weights
    as an Optuna artifact, early-stopped PRUNED trials with their costs, COMPLETE trials with a per-device
    latency column, and a small reference study. Returns (storage URL, the trained trial's number)."""
    import torch
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    from nas_sr.cost import model_cost
    from nas_sr.data import load_bundled
    from nas_sr.study.storage import artifact_dir
    from nas_sr.train import TrainSettings, train

    url = f"sqlite:///{folder / 'nas.db'}"
    study = make_demo_study(url, "demo", trials=40, seed=1)
    rng = random.Random(5)
    extra = []
    for _ in range(4):
        attrs = demo_trial_attrs(rng)
        attrs[DEVICE_COLUMN] = round(attrs["latency_ms"] * 7.5, 4)
        extra.append(optuna.trial.create_trial(values=[attrs["psnr_val"], attrs["latency_ms"], attrs["params"]],
                                               user_attrs=attrs, constraints={"latency_ms<=40": -1.0}))
    for _ in range(3):  # MO-ASHA stopped these at a rung: costs known, no final quality
        attrs = demo_trial_attrs(rng)
        extra.append(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, user_attrs={
            k: attrs[k] for k in ("config", "family", "scale", "params", "flops", "latency_ms")} | {
            "early_stopped": True, "stopped_at_rung": 0}))
    for t in extra:
        study.add_trial(t)

    result = train(dict(TRAINED), load_bundled("train"), {"val": load_bundled("val")},
                   TrainSettings(max_steps=80, threads=1, patches=500, seed=0))
    cost = model_cost(TRAINED, (64, 64))
    trial = study.ask()
    attrs = {"config": json.dumps(TRAINED, sort_keys=True, separators=(",", ":")), "family": "esr-tm", "scale": 2,
             **result.metrics, "params": cost.params, "flops": cost.flops, "resolution": [64, 64],
             "latency_ms": 0.01, DEVICE_COLUMN: 0.2, "steps": result.steps,
             "curve": [list(map(float, p)) for p in result.curve]}
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    trial.set_constraint("latency_ms<=40", -39.99)
    weights = folder / "weights.pt"
    torch.save(result.state_dict, weights)
    store = artifact_dir(url)
    store.mkdir(parents=True, exist_ok=True)
    artifact = upload_artifact(artifact_store=FileSystemArtifactStore(str(store)), file_path=str(weights),
                               study_or_trial=trial)
    trial.set_user_attr("weights_artifact", artifact)
    study.tell(trial, [result.metrics["psnr_val"], 0.01, cost.params])

    reference = optuna.create_study(storage=url, study_name="ref", directions=["maximize", "minimize"])
    reference.set_user_attr("reference", True)
    for i, (psnr, latency) in enumerate([(34.0, 0.2), (35.0, 1.0), (36.0, 3.0)]):
        reference.add_trial(optuna.trial.create_trial(values=[psnr, 100 * (i + 1)], user_attrs={
            "model_id": f"ref{i}", "family": "esr-tm", "scale": 2, "psnr_val": psnr, "latency_ms": latency,
            "params": 100 * (i + 1)}))
    return url, trial.number


@pytest.fixture(scope="module")
def served(tmp_path_factory, one_torch_thread):
    """(server, StudyView, database path, trained trial number, hash of the database before any request)."""
    from nas_sr.browse.query import open_study
    from nas_sr.browse.serve import make_server

    folder = tmp_path_factory.mktemp("serve")
    url, trained = build_study(folder)
    db = folder / "nas.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    server = make_server("demo", url, port=0, reference="ref")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, open_study("demo", url), db, trained, before
    server.shutdown()
    server.server_close()


def get(server, path: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=120) as r:
            body, status, kind = r.read(), r.status, r.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        body, status, kind = e.read(), e.code, e.headers["Content-Type"]
    return status, json.loads(body) if kind.startswith("application/json") else body.decode()


def values(data) -> np.ndarray:
    """A plotly JSON array (a list, or plotly's typed {'dtype', 'bdata'})."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
    return np.asarray(data, dtype=float)


def trial_points(figure: dict) -> dict[str, list[int]]:
    """Trace name -> trial numbers of its points (literature traces have none)."""
    return {t["name"]: [int(n) for n in t["customdata"]] for t in figure["data"] if t.get("customdata") is not None}


def test_columns_offer_every_numeric_column_families_and_latency_labels(served):
    server, view, *_ = served
    status, info = get(server, "/api/columns")
    frame = view.trials()
    assert status == 200
    keys = [c["key"] for c in info["columns"]]
    assert keys[:3] == ["psnr_val", "latency_ms", "params"]  # the study's objectives first
    assert {"flops", "ssim_val", DEVICE_COLUMN, "cfg_channels"} <= set(keys)
    assert "config" not in keys and "feasible" not in keys
    assert info["latency"] == ["latency_ms", DEVICE_COLUMN]
    assert info["families"] == sorted(frame["family"].dropna().astype(str).unique())
    assert info["scales"] == [2]
    assert (info["x"], info["y"]) == ("latency_ms", "psnr_val")
    assert info["states"] == frame["state"].astype(str).value_counts().to_dict()


def test_front_matches_study_view(served):
    from nas_sr.browse.report import GREY

    server, view, *_ = served
    status, body = get(server, "/api/front")
    assert status == 200
    meta, figure = body["meta"], body["figure"]
    complete = view.trials("COMPLETE")
    assert meta["points"] == len(complete) == int(complete[["latency_ms", "psnr_val"]].notna().all(axis=1).sum())
    assert meta["front"] == list(view.pareto(["latency_ms", "psnr@val"]).index)
    infeasible = list(complete.index[~complete["feasible"].astype(bool)])
    assert meta["infeasible"] == infeasible and infeasible
    points = trial_points(figure)
    grey = next(t for t in figure["data"] if t["name"].startswith("infeasible"))
    assert grey["marker"]["color"] == GREY and sorted(points[grey["name"]]) == infeasible
    front_trace = next(name for name in points if name.startswith("Pareto front"))
    assert sorted(points[front_trace]) == sorted(meta["front"])
    drawn = [n for name, numbers in points.items() if not name.startswith("literature") for n in numbers]
    assert sorted(drawn) == sorted(complete.index)  # every COMPLETE trial once, none of the others
    hidden = view.trials(["PRUNED", "FAIL"])
    assert meta["hidden"] == len(hidden) > 0 and not set(drawn) & set(hidden.index)
    assert not any(name.startswith(("literature", "published")) for name in points)  # other studies' numbers


def test_hidden_toggle_draws_pruned_trials_that_have_the_axes(served):
    server, view, *_ = served
    _, shown = get(server, "/api/front?x=params&y=latency_ms&hidden=1")
    _, default = get(server, "/api/front?x=params&y=latency_ms")
    pruned = view.trials("PRUNED")
    with_costs = pruned[pruned[["params", "latency_ms"]].notna().all(axis=1)]
    assert len(with_costs) == 3
    names = trial_points(shown["figure"])
    assert sorted(names[f"PRUNED ({len(with_costs)})"]) == sorted(with_costs.index)
    assert shown["meta"]["hidden_drawn"] == len(with_costs)
    assert not any(n.startswith(("PRUNED", "FAIL")) for n in trial_points(default["figure"]))
    assert shown["meta"]["front"] == default["meta"]["front"] == list(view.pareto(["params", "latency_ms"]).index)


def test_three_objectives_give_a_3d_front(served):
    server, view, *_ = served
    status, body = get(server, "/api/front?x=params&y=psnr_val&z=latency_ms")
    assert status == 200
    assert {t["type"] for t in body["figure"]["data"]} == {"scatter3d"}
    assert body["meta"]["front"] == list(view.pareto(["params", "psnr@val", "latency_ms"]).index)
    assert [a["key"] for a in body["meta"]["axes"]] == ["params", "psnr_val", "latency_ms"]


@pytest.mark.parametrize("query", ["", "?x=params&y=psnr_val&z=latency_ms"], ids=["2-D", "3-D"])
def test_hover_shows_the_config_as_stored(served, query):
    """Hover text is plotly pseudo-HTML: quotes stay quotes (plotly.js does not decode &quot;)."""
    server, view, _, trained, _ = served
    _, body = get(server, "/api/front" + query)
    hover = {int(n): text for t in body["figure"]["data"] if t.get("customdata") is not None
             for n, text in zip(t["customdata"], t["text"])}
    config = view.trials().loc[trained, "config"]
    assert config.startswith('{"channels":2,')
    assert hover[trained] == f"trial {trained} (esr-tm)<br>{config}"
    assert not [text for text in hover.values() if "&quot;" in text or "&#x27;" in text]


def test_filters_by_family_scale_and_range(served):
    server, view, *_ = served
    frame = view.trials("COMPLETE")
    status, body = get(server, "/api/front?family=espcn&family=fsrcnn&scale=2&range=params:1000:20000")
    assert status == 200
    want = frame[frame["family"].isin(["espcn", "fsrcnn"]) & frame["params"].between(1000, 20000)]
    drawn = [n for numbers in trial_points(body["figure"]).values() for n in numbers]
    assert sorted(drawn) == sorted(want.index) and len(want) > 3
    assert body["meta"]["front"] == list(view.pareto(["latency_ms", "psnr@val"], frame=want).index)
    _, open_range = get(server, "/api/front?range=psnr_val:35.5:")
    assert open_range["meta"]["points"] == int((frame["psnr_val"] >= 35.5).sum())


def test_any_numeric_column_is_an_axis_including_device_latency(served):
    from nas_sr.browse.query import front_mask

    server, view, *_ = served
    status, body = get(server, f"/api/front?x={DEVICE_COLUMN.replace('@', '%40')}&y=psnr_val")
    assert status == 200
    frame = view.trials("COMPLETE")
    has = frame[frame[DEVICE_COLUMN].notna()]
    assert body["meta"]["points"] == len(has) == 5
    axes = [Objective(DEVICE_COLUMN, DEVICE_COLUMN, "minimize"), view.objective("psnr@val")]
    assert body["meta"]["front"] == list(has.index[front_mask(has, axes)])
    assert get(server, "/api/front?x=cfg_channels&y=ssim_val")[0] == 200


def test_published_results_share_the_axes_with_flops_at_the_study_resolution(served):
    server, *_ = served
    _, body = get(server, "/api/front?x=params&y=flops")
    rows = [r for r in literature_rows() if r["scale"] == 2]
    assert body["meta"]["literature"] == len(rows) > 0
    trace = next(t for t in body["figure"]["data"] if t["name"].startswith("published"))
    assert list(values(trace["x"])) == [r["params"] for r in rows]
    want = [r["flops"] * 64 * 64 / (r["resolution"][0] * r["resolution"][1]) for r in rows]
    assert values(trace["y"]) == pytest.approx(want)
    assert "HiT-SIR x2" in trace["text"][[r["model_id"] for r in rows].index("HiT-SIR x2")]
    _, off = get(server, "/api/front?x=params&y=flops&literature=0")
    assert off["meta"]["literature"] == 0
    _, quality = get(server, "/api/front")  # psnr@val: no published number on the study's own set
    assert quality["meta"]["literature"] == 0


def test_reference_study_points_on_the_front(served):
    server, *_ = served
    _, body = get(server, "/api/front")
    reference = next(t for t in body["figure"]["data"] if t["name"].startswith("literature"))
    assert reference["name"] == "literature (3)" and list(values(reference["y"])) == [34.0, 35.0, 36.0]


def test_hypervolume_matches_study_view(served):
    server, view, *_ = served
    status, body = get(server, "/api/hypervolume?x=params&y=psnr_val")
    assert status == 200
    history = view.hypervolume_history(["params", "psnr@val"])
    assert body["meta"]["hypervolume"] == pytest.approx(float(history.iloc[-1]))
    assert list(values(body["figure"]["data"][0]["y"])) == pytest.approx(list(history))
    _, three = get(server, "/api/hypervolume?x=params&y=psnr_val&z=latency_ms")
    assert three["meta"]["hypervolume"] == pytest.approx(view.hypervolume(["params", "psnr@val", "latency_ms"]))


def test_trial_page_crops_are_the_protocol_on_a_bundled_photo(served):
    import torch
    from optuna.artifacts import FileSystemArtifactStore
    from PIL import Image

    from nas_sr.browse.crops import DEFAULT_PHOTO, bundled_photo
    from nas_sr.models import build_model
    from nas_sr.models.upscaler import torch_upscaler
    from nas_sr.protocol import evaluate, luma, make_lr, matlab_bicubic, mod_crop, to_uint8

    server, view, db, trained, _ = served
    status, trial = get(server, f"/api/trial/{trained}")
    assert status == 200
    assert trial["config"] == TRAINED and trial["weights"] and trial["crops"]["note"] == ""
    assert [c["label"] for c in trial["crops"]["crops"]] == ["HR", "bicubic", "candidate"]
    assert trial["costs"]["params"] == view.trials().loc[trained, "params"]
    assert len(trial["curve"]) > 0 and trial["metrics"]["psnr_val"] == view.trials().loc[trained, "psnr_val"]
    model = build_model(dict(TRAINED))
    artifact = view.study.trials[trained].user_attrs["weights_artifact"]
    with FileSystemArtifactStore(str(db.parent / "artifacts")).open_reader(artifact) as f:
        model.load_state_dict(torch.load(f, weights_only=True))
    photo = [(DEFAULT_PHOTO, bundled_photo(DEFAULT_PHOTO))]
    candidate = evaluate(torch_upscaler(model, TRAINED), photo, 2, "y", "uint8", with_ssim=False).psnr
    bicubic = evaluate(matlab_bicubic(2), photo, 2, "y", "uint8", with_ssim=False).psnr
    psnrs = {c["label"]: c["psnr"] for c in trial["crops"]["crops"]}
    assert psnrs == {"HR": None, "bicubic": pytest.approx(bicubic, abs=1e-4),
                     "candidate": pytest.approx(candidate, abs=1e-4)}
    x, y, side = trial["crops"]["box"]
    shown = {}
    for crop in trial["crops"]["crops"]:
        image = Image.open(io.BytesIO(base64.b64decode(crop["uri"].removeprefix("data:image/png;base64,"))))
        assert image.size == (side, side) and image.mode == "RGB"  # a Y network in colour: bicubic chroma
        shown[crop["label"]] = np.asarray(image)
    # What is shown of the candidate is its own Y plane (to rounding), the one that is scored.
    hr = mod_crop(photo[0][1], 2)
    network_y = to_uint8(torch_upscaler(model, TRAINED)(make_lr(hr, 2, "y")))[y:y + side, x:x + side]
    assert np.abs(luma(shown["candidate"], "uint8").astype(int) - network_y).max() <= 1
    assert np.array_equal(shown["HR"], hr[y:y + side, x:x + side])

    status, page = get(server, f"/trial/{trained}")
    assert status == 200
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', page)) == 3
    assert f"candidate: {candidate:.2f} dB" in page and "&quot;kernel_size&quot;: 3" in page
    assert 'id="curve"' in page and 'src="/static/plotly.min.js"' in page


def test_trial_without_weights_shows_hr_and_bicubic_and_says_so(served):
    server, view, *_ = served
    number = int(view.trials("COMPLETE").index[0])
    _, trial = get(server, f"/api/trial/{number}")
    assert [c["label"] for c in trial["crops"]["crops"]] == ["HR", "bicubic"]
    assert "weights missing" in trial["crops"]["note"]
    _, page = get(server, f"/trial/{number}")
    assert page.count("data:image/png;base64,") == 2 and "weights missing" in page
    _, failed = get(server, f"/trial/{int(view.trials('FAIL').index[0])}")
    assert "fail reason: training diverged" in failed


@pytest.mark.parametrize("query", [
    "/api/front?x=%27%20OR%201%3D1%20--", "/api/front?y=__import__(%27os%27)", "/api/front?x=../../etc/passwd",
    "/api/front?x=%22psnr_val%22", "/api/front?family=espcn%27%3B%20DROP%20TABLE%20trials%3B--",
    "/api/front?scale=2%20OR%201%3D1", "/api/front?scale=99", "/api/front?range=params:1e999:",
    "/api/front?range=params::" + "9" * 150, "/api/front?range=params:0x10:", "/api/front?range=no_such:1:2",
    "/api/front?range=params:nan:", "/api/front?x=" + "a" * 300, "/api/front?x=params&x=flops",
    "/api/front?x=params&y=params", "/api/front?hidden=yes", "/api/front?evil=1", "/api/hypervolume?hidden=1",
    "/api/columns?x=params", "/?x=__import__(%27os%27)", "/trial/1e3", "/trial/-1", "/trial/99999999999999999999",
    "/api/trial/%27%20OR%201%3D1", "/trial/0?photo=../../etc/passwd", "/api/front?z=unknown_column",
])
def test_bad_parameters_are_400_with_a_reason(served, query):
    server, *_ = served
    status, body = get(server, query)
    assert status == 400
    assert isinstance(body, dict) and body["error"] and "\n" not in body["error"]


@pytest.mark.parametrize("path", ["/nope", "/static/../../etc/passwd", "/static/plotly.js", "/static/",
                                  "/trial/9999", "/api/trial/9999", "/api/", "/trial/1/x", "/%2e%2e/%2e%2e/etc/passwd"])
def test_unknown_paths_are_404(served, path):
    server, *_ = served
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    connection.request("GET", path)  # sent as written: no client-side path normalisation
    response = connection.getresponse()
    assert response.status == 404 and "error" in json.loads(response.read())
    connection.close()


def test_favicon_is_answered_not_404(served):
    server, *_ = served
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    for _ in range(2):  # the connection stays usable after the empty answer
        connection.request("GET", "/favicon.ico")
        response = connection.getresponse()
        assert (response.status, response.read()) == (204, b"")
        assert response.headers["Cache-Control"] == "max-age=86400"  # asked once a day, not per page
    connection.close()


def test_plotly_js_served_locally_and_writes_refused(served):
    from plotly.offline import get_plotlyjs

    server, *_ = served
    status, body = get(server, "/static/plotly.min.js")
    assert status == 200 and body == get_plotlyjs()
    status, page = get(server, "/")
    assert status == 200 and '<script src="/static/plotly.min.js">' in page and "cdn" not in page.lower()
    request = urllib.request.Request(server.url + "api/front", data=b"x=1", method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)
    assert error.value.code == 405


def test_database_unchanged_and_opened_read_only(served):
    server, view, db, trained, before = served
    for path in ["/", "/api/columns", "/api/front?hidden=1", "/api/front?x=params&y=psnr_val&z=flops",
                 "/api/hypervolume", f"/trial/{trained}", "/trial/0", "/api/front?x=%27", "/nope"]:
        get(server, path)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in db.parent.iterdir() if p.name.startswith("nas.db")) == ["nas.db"]
    with pytest.raises(Exception, match="(?i)readonly|read-only|commit"):
        server.dashboard.view.study.set_user_attr("tampered", True)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_bind_wider_warns(served, capsys):
    from nas_sr.browse.serve import make_server

    _, view, db, *_ = served
    for host, warned in (("127.0.0.1", False), ("0.0.0.0", True)):
        server = make_server("demo", f"sqlite:///{db}", host=host, port=0)
        server.server_close()
        err = capsys.readouterr().err
        assert ("warning: binding 0.0.0.0" in err) is warned
        assert len(err.strip().splitlines()) == int(warned)


def test_cli_names_a_missing_study(served, cli):
    _, _, db, *_ = served
    status, _, err = cli("serve", "--study", "nope", "--storage", f"sqlite:///{db}", "--port", "0")
    assert status == 2 and "no study 'nope'" in err and "existing: demo, ref" in err
    status, _, err = cli("serve", "--study", "demo", "--storage", f"sqlite:///{db}", "--photo", "../etc/passwd")
    assert status == 2 and "unknown photo '../etc/passwd'" in err


def test_ctrl_c_stops_the_server_cleanly(served):
    _, _, db, *_ = served
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "nas_sr", "serve", "--study", "demo", "--storage",
                                f"sqlite:///{db}", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        line = process.stdout.readline()
        url = re.search(r"at (http://\S+/) ", line).group(1)
        with urllib.request.urlopen(url + "api/columns", timeout=60) as r:
            assert json.loads(r.read())["study"] == "demo"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert out.strip().endswith("stopped") and "Traceback" not in err


def test_literature_table_matches_the_architectures_spec(shared):
    """Every published row of nas_sr.browse.literature against specs/architectures.md (numbers only)."""
    text = (shared / "specs" / "architectures.md").read_text()
    table, checks = {}, {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 14 and cells[1][:1] == "x" and cells[3].replace(",", "").isdigit():
            table[f"{cells[0]} {cells[1]}"] = cells
        elif len(cells) == 4 and cells[1][:1] == "x" and "/" in cells[2]:
            checks[f"{cells[0]} {cells[1]}"] = cells
    rows = [r for r in literature_rows() if r["family"] not in ("span", "rlfn")]  # those: ntire_families.md
    assert len(rows) == 19
    for row in rows:
        cells = table[row["model_id"]]
        assert row["params"] == int(cells[3].replace(",", "")) and row["flops"] == round(float(cells[5]) * 1e9)
        for name, cell in zip(("Set5", "Set14", "BSDS100", "Urban100", "Manga109"), cells[9:14]):
            if "/" in cell and cell != "n/r":
                assert (row[f"psnr_{name}"], row[f"ssim_{name}"]) == tuple(map(float, cell.split("/")))
            elif name in ("Set5", "Set14") and row["model_id"] in checks:  # n/r: the re-evaluated checkpoint
                assert "re-evaluated" in row["source"]
                cell = checks[row["model_id"]][2 if name == "Set5" else 3]
                assert (row[f"psnr_{name}"], row[f"ssim_{name}"]) == tuple(map(float, cell.split("/")))
            else:
                assert f"psnr_{name}" not in row


def test_trials_cache_reloads_only_when_the_study_changes(tmp_path):
    from nas_sr.browse.dashboard import Dashboard
    from nas_sr.browse.query import StudyView

    study = make_demo_study(f"sqlite:///{tmp_path / 'live.db'}", "live", trials=10, seed=4)
    dashboard = Dashboard(StudyView(study), ttl=0.0)
    first = dashboard.frame()
    assert dashboard.frame() is first  # counts unchanged: the same frame, not read again
    attrs = demo_trial_attrs(random.Random(9))
    study.add_trial(optuna.trial.create_trial(values=[attrs["psnr_val"], attrs["latency_ms"], attrs["params"]],
                                              user_attrs=attrs))
    assert len(dashboard.frame()) == len(first) + 1
    assert StudyView(study).state_counts() == dashboard.frame()["state"].astype(str).value_counts().sort_index().to_dict()
