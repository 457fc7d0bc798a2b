"""Browsing a study: typed DataFrame, Pareto front vs Optuna's best_trials, hypervolume, the SQL view,
the HTML report and the edge-SR reference import (issue 6)."""

from __future__ import annotations

import json
import re
import sqlite3
import warnings

import optuna
import pandas as pd
import pytest

from nas_sr.study.bulk import bulk_add_trials
from nas_sr.browse.demo import make_demo_study
from nas_sr.browse.query import StudyView, open_study, trials_frame
from nas_sr.search.report import dominates

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A 120-trial synthetic search study in SQLite: (storage URL, database path)."""
    path = tmp_path_factory.mktemp("browse") / "nas.db"
    url = f"sqlite:///{path}"
    make_demo_study(url, "demo", trials=120, seed=3, latency_limit=30.0)
    return url, path


def test_open_study_is_lazy_attribute_and_names_missing_study(demo):
    import nas_sr

    url, _ = demo
    assert nas_sr.open_study is open_study
    with pytest.raises(ValueError, match="no study 'nope'.*existing: demo"):
        open_study("nope", url)


def test_trials_columns_and_dtypes(demo):
    url, _ = demo
    view = open_study("demo", url)
    frame = view.trials()
    assert frame.index.name == "number" and list(frame.index) == list(range(120))
    assert list(frame.columns[:4]) == ["state", "feasible", "family", "scale"]
    expected = {"state": "category", "feasible": "boolean", "family": "category", "scale": "Int64",
                "psnr_val": "float64", "ssim_val": "float64", "latency_ms": "float64", "params": "Int64",
                "flops": "Int64", "steps": "Int64", "seconds": "float64", "config": "string", "device": "string",
                "duplicate_of": "Int64", "fail_reason": "string", "cfg_channels": "Int64",
                "cfg_kernel_size": "Int64", "cfg_width1": "Int64", "cfg_color": "string"}
    assert {c: str(frame[c].dtype) for c in expected} == expected
    assert "curve" not in frame and "resolution" not in frame  # lists stay out of the table
    assert set(frame["state"].astype(str)) == {"COMPLETE", "FAIL", "PRUNED"}
    complete = view.trials("COMPLETE")
    with pytest.raises(ValueError, match="unknown trial state 'done'"):
        view.trials("done")
    assert set(complete["state"].astype(str)) == {"COMPLETE"} and complete["psnr_val"].notna().all()
    # The direct SQL read equals the one through Optuna's FrozenTrials.
    pd.testing.assert_frame_equal(frame, trials_frame(view.study.get_trials(deepcopy=False)))
    infeasible = complete[~complete["feasible"].astype(bool)]
    assert len(infeasible) and (infeasible["latency_ms"] > 30).all()


def test_pareto_equals_optuna_best_trials_on_two_objectives():
    study = optuna.create_study(directions=["maximize", "minimize"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.set_metric_names(["psnr@val", "params"])
    import random

    rng = random.Random(1)
    trials = []
    for _ in range(80):
        psnr, params = round(rng.uniform(30, 34), 2), rng.choice([100, 200, 400, 800, 1600, 3200])
        trials.append(optuna.trial.create_trial(
            values=[psnr, params], user_attrs={"psnr_val": psnr, "params": params, "family": "esr-tm"},
            constraints={"params<=2000": params - 2000}))
    trials.append(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={"family": "x"}))
    study.add_trials(trials)
    view = StudyView(study)
    front = view.pareto()
    assert list(front.index) == sorted(t.number for t in study.best_trials)
    assert 1 < len(front) < 80 and (front["params"] <= 2000).all()


def test_pareto_on_a_subset_of_objectives_is_non_dominated(demo):
    url, _ = demo
    view = open_study("demo", url)
    frame = view.trials("COMPLETE")
    ok = frame[frame["feasible"].astype(bool)]
    points = {n: (r.psnr_val, r.params) for n, r in ok.iterrows()}
    brute = sorted(n for n, p in points.items()
                   if not any(dominates(q, p, ["maximize", "minimize"]) for m, q in points.items() if m != n))
    assert list(view.pareto(["psnr@val", "params"]).index) == brute
    assert list(view.pareto("psnr,params").index) == brute
    # Own objectives: Optuna's best_trials (constraints honoured).
    assert list(view.pareto().index) == sorted(t.number for t in view.study.best_trials)


def test_hypervolume_and_its_history(demo):
    study = optuna.create_study(directions=["maximize", "minimize"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.set_metric_names(["psnr@val", "params"])
    for psnr, params in [(30.0, 100), (29.0, 500), (31.0, 400), (30.5, 50)]:
        study.add_trial(optuna.trial.create_trial(values=[psnr, params],
                                                  user_attrs={"psnr_val": psnr, "params": params}))
    view = StudyView(study)
    # (30.5, 50) dominates (30, 100); to (29, 500): 1.5*450 + 2*100 - 1.5*100 (overlap) = 725
    assert view.hypervolume(reference={"psnr@val": 29.0, "params": 500}) == pytest.approx(725.0)
    assert view.hypervolume(reference=[29.0, 500]) == pytest.approx(725.0)
    assert view.hypervolume(["psnr@val"], reference=[29.0]) == pytest.approx(2.0)
    history = view.hypervolume_history(reference=[29.0, 500])
    assert list(history) == pytest.approx([400.0, 400.0, 500.0, 725.0])
    with pytest.raises(ValueError, match="lacks params"):
        view.hypervolume(reference={"psnr@val": 29.0})
    # Default reference on the demo study: positive, non-decreasing, last = total.
    url, _ = demo
    demo_view = open_study("demo", url)
    history = demo_view.hypervolume_history()
    assert history.is_monotonic_increasing and history.iloc[-1] > 0
    assert history.iloc[-1] == pytest.approx(demo_view.hypervolume())


def test_sql_recipe_matches_dataframe(demo):
    from nas_sr.browse.sql import TRIALS_SQL, create_view

    url, path = demo
    frame = open_study("demo", url).trials()
    con = sqlite3.connect(path)
    try:
        columns = create_view(con, "demo")
        view = pd.read_sql("SELECT * FROM nas_sr_trials", con, index_col="number")
        recipe = pd.read_sql(TRIALS_SQL, con, params={"study": "demo"}, index_col="number")
    finally:
        con.close()
    assert {"psnr_val", "params", "family", "config", "cfg_channels", "value_0", "value_2"} <= set(columns)
    assert len(view) == len(recipe) == len(frame)
    for got in (view, recipe):
        for col in ("psnr_val", "params", "latency_ms", "cfg_channels", "cfg_kernel_size", "scale"):
            pd.testing.assert_series_equal(got[col].astype("float64"), frame[col].astype("float64"),
                                           check_names=False, check_index_type=False)
        assert list(got["family"].fillna("-")) == list(frame["family"].astype(object).fillna("-"))
        assert list(got["state"]) == list(frame["state"].astype(str))
        assert list(got["feasible"].astype(bool)) == list(frame["feasible"].astype(bool))
    complete = frame["state"] == "COMPLETE"
    assert list(recipe.loc[complete.to_numpy(), "value_0"]) == list(frame.loc[complete, "psnr_val"])


def test_report_html_is_self_contained_with_front_and_table(demo, tmp_path, cli):
    url, _ = demo
    out = tmp_path / "report.html"
    status, stdout, _ = cli("report", "--study", "demo", "--storage", url, "--out", str(out), "--top", "15")
    assert status == 0 and "wrote" in stdout
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", text), "no script from the network"
    assert "plotly.js v" in text and len(text) > 3_000_000  # the bundle, inline
    view = open_study("demo", url)
    from nas_sr.browse.report import default_axes

    x, y = default_axes(view.objectives)
    expected = list(view.pareto([x, y]).index)
    numbers = json.loads(re.search(r'id="front-trials">(.*?)</script>', text).group(1))
    assert numbers == expected and len(expected) >= 3
    # The front trace of the first figure holds exactly those trials.
    start = text.index('Plotly.newPlot(') + len('Plotly.newPlot(')
    start = text.index("[", text.index('"front"', start))
    data, _ = json.JSONDecoder().raw_decode(text, start)
    front_trace = next(t for t in data if t["name"].startswith("Pareto front"))
    assert sorted(front_trace["customdata"]) == expected
    assert any(t["name"].startswith("infeasible") for t in data)
    families = {t["name"] for t in data} & {"esr-max", "esr-tm", "espcn", "fsrcnn"}
    assert len(families) >= 3
    table = text[text.index('id="top-trials"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r"<tr>\s*<th>(\d+)</th>", table)
    assert len(rows) == 15 and set(map(int, rows)) <= set(view.trials().index)
    assert 'id="families"' in text and 'id="hypervolume"' in text


def test_report_goes_beside_the_database_by_default(demo, cli):
    url, path = demo
    status, stdout, _ = cli("report", "--study", "demo", "--storage", url, "--top", "3")
    out = path.parent / "demo_report.html"
    assert status == 0 and stdout.strip().startswith(f"wrote {out} (")
    assert stdout.strip().endswith(f"study demo of {url}")
    assert "<title>nas-sr report: study demo</title>" in out.read_text(encoding="utf-8")


def figure_data(text: str) -> list[dict]:
    """The traces of the first plotly figure of an HTML page."""
    start = text.index("[", text.index('"front"', text.index("Plotly.newPlot(")))
    return json.JSONDecoder().raw_decode(text, start)[0]


def test_search_front_page_titled_coloured_by_family_front_on_all_objectives(demo, tmp_path):
    from nas_sr.browse.report import family_colors, write_front_html
    from nas_sr.search.report import pareto_front

    url, _ = demo
    view = open_study("demo", url)
    text = write_front_html(view.study, view.objectives, tmp_path / "f.html").read_text(encoding="utf-8")
    assert "<title>nas-sr front: study demo</title>" in text and "plotly.js v" in text
    data = figure_data(text)
    assert not [t for t in data if t["marker"].get("showscale") or "colorbar" in t["marker"]]  # no colour bar
    complete = view.trials("COMPLETE")
    colors = family_colors(complete["family"].astype(str))
    by_family = {t["name"]: t for t in data if t["name"] in colors}
    assert set(by_family) == set(complete.loc[complete["feasible"].astype(bool), "family"].astype(str))
    assert all(t["marker"]["color"] == colors[name] for name, t in by_family.items())
    # The front highlighted is the one nas-sr search prints: on all three objectives, not on the two axes.
    front = next(t for t in data if t["name"].startswith("Pareto front"))
    printed = [t.number for t in pareto_front(view.study)]
    assert sorted(front["customdata"]) == printed != sorted(view.pareto(["latency_ms", "psnr@val"]).index)
    assert front["mode"] == "markers"
    assert front["name"] == f"Pareto front on psnr@val, latency_ms, params ({len(printed)})"
    assert front["marker"]["color"] == [colors[f] for f in complete.loc[front["customdata"], "family"].astype(str)]
    hover = front["text"][0]
    assert hover.startswith(f"trial {front['customdata'][0]} (") and "params=" in hover and "&quot;" not in hover


def test_bulk_add_trials_equals_add_trials(tmp_path):
    url = f"sqlite:///{tmp_path}/b.db"
    trials = [optuna.trial.create_trial(values=[float(i), float("inf") if i == 2 else 1.0],
                                        user_attrs={"a": i, "s": "x", "l": [1, 2]}, constraints={"c": i - 1.0})
              for i in range(4)]
    trials.append(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={"why": "nan"}))
    slow = optuna.create_study(storage=url, study_name="slow", directions=["minimize", "minimize"])
    fast = optuna.create_study(storage=url, study_name="fast", directions=["minimize", "minimize"])
    slow.add_trials(trials)
    bulk_add_trials(fast, trials[:2])
    bulk_add_trials(fast, trials[2:])

    def key(t):
        return t.number, t.state, t.values, t.user_attrs, t.constraints, t.datetime_start, t.datetime_complete

    assert [key(t) for t in optuna.load_study(study_name="fast", storage=url).trials] == \
        [key(t) for t in slow.trials]


@pytest.mark.shared
@pytest.mark.slow
def test_import_esr_reference_study(shared, esr_table, tmp_path, cli):
    url = f"sqlite:///{tmp_path}/ref.db"
    table = str(shared / "esr" / "tests.pkl")
    status, _, err = cli("import-esr", table, "--study", "esr", "--storage", url)
    assert status == 2 and "--trust-pickle" in err  # a pickle is read only when the user vouches for it
    status, stdout, _ = cli("import-esr", table, "--trust-pickle", "--study", "esr", "--storage", url)
    assert status == 0 and "1185" in stdout
    status, _, err = cli("import-esr", table, "--trust-pickle", "--study", "esr", "--storage", url)
    assert status == 2 and "--replace" in err
    view = open_study("esr", url)
    assert view.is_reference and view.study.user_attrs["source"].startswith("edge-SR")
    frame = view.trials()
    assert len(frame) == len(esr_table) == 1185 and set(frame["state"].astype(str)) == {"COMPLETE"}
    assert frame["reference"].all()
    row = frame[frame["model_id"] == "eSR-TM_s2_K7_C8"].iloc[0]
    table = esr_table["eSR-TM_s2_K7_C8"]
    assert row["psnr_Set5"] == pytest.approx(table["psnr_Set5"]) and row["params"] == table["parameters"]
    assert row["latency_ms_RPI"] == pytest.approx(1000 / table["speed_RPI"])
    assert (row["family"], row["scale"], row["cfg_channels"], row["cfg_kernel_size"]) == ("esr-tm", 2, 8, 7)
    assert frame["family"].value_counts()["espcn"] == 300
    assert frame["stale"].sum() == 114
    assert list(view.pareto().index) == sorted(t.number for t in view.study.best_trials)


def test_front_figure_draws_reference_points_of_the_same_scale(demo):
    from nas_sr.browse.report import front_figure

    url, _ = demo
    view = open_study("demo", url)
    frame = view.trials("COMPLETE")
    reference = pd.DataFrame({"psnr_val": [35.0, 36.0, 37.0], "params": [100, 1000, 10000],
                              "scale": pd.array([2, 2, 4], dtype="Int64"), "model_id": ["a", "b", "c"]})
    figure = front_figure(view, "params", "psnr", frame=frame, reference=reference)
    literature = next(t for t in figure.data if t.name.startswith("literature"))
    assert literature.name == "literature (2)" and literature.text[0].startswith("a<br>")
    front = next(t for t in figure.data if t.name.startswith("Pareto front"))
    assert sorted(front.customdata) == list(view.pareto(["params", "psnr@val"]).index)
    assert figure.layout.xaxis.type == "log" and figure.layout.yaxis.title.text == "psnr@val"


def test_non_dominated_matches_brute_force_with_ties():
    import random

    from nas_sr.search.report import non_dominated

    rng = random.Random(0)
    directions = ["maximize", "minimize", "minimize"]
    for n in (0, 1, 2, 30, 200):
        points = [[rng.randint(0, 5), rng.randint(0, 5), rng.randint(0, 5)] for _ in range(n)]
        brute = [i for i, p in enumerate(points)
                 if not any(dominates(q, p, directions) for j, q in enumerate(points) if j != i)]
        assert non_dominated(points, directions) == brute
        assert non_dominated([p[:2] for p in points], directions[:2]) == [
            i for i, p in enumerate(points)
            if not any(dominates(q[:2], p[:2], directions[:2]) for q in points)]


def test_report_draws_published_results_with_both_axes(tmp_path):
    """A study on params and psnr@Set5 at x4 shows the published x4 models, SPAN and RLFN among them."""
    from nas_sr.browse.report import build_report

    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/db.sqlite", study_name="x4",
                                directions=["maximize", "minimize"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["psnr@Set5", "params"])
    for i, (psnr, params) in enumerate([(31.0, 100_000), (32.0, 300_000)]):
        trial = study.ask()
        for key, value in {"family": "span", "scale": 4, "psnr_Set5": psnr, "params": params,
                           "resolution": [1280, 720], "config": "{}"}.items():
            trial.set_user_attr(key, value)
        study.tell(trial, [psnr, params])
    text = build_report(open_study("x4", f"sqlite:///{tmp_path}/db.sqlite"), x="params", y="psnr@Set5")
    start = text.index("[", text.index('"front"', text.index("Plotly.newPlot(")))
    data, _ = json.JSONDecoder().raw_decode(text, start)
    published = next(t for t in data if t["name"].startswith("literature"))
    names = [label.split("<br>")[0] for label in published["text"]]
    assert {"SPAN ch28 x4", "RLFN x4", "PAN x4", "VapSR x4"} <= set(names)
    def values(data):  # plotly writes numeric arrays as base64 typed arrays
        import base64

        import numpy as np

        if isinstance(data, dict):
            return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
        return data

    assert values(published["x"])[names.index("SPAN ch28 x4")] == 150_688
    assert values(published["y"])[names.index("RLFN x4")] == 32.0977
