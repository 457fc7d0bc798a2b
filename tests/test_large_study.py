"""Large studies stay browsable (issue 19): the SQL paths of nas-sr pareto and nas-sr trials --limit
give what the Optuna paths give; the front with margins equals its brute-force definition.
Their speed on 100,000 trials is measured by benchmarks/dashboard_load.py, not here."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from nas_sr.browse.demo import make_demo_study

    url = f"sqlite:///{tmp_path_factory.mktemp('large')}/demo.db"
    study = make_demo_study(url, "demo", trials=300, seed=3)
    study.set_user_attr("front_tolerance", 0.05)
    return url, study


@pytest.mark.parametrize("tolerance", [0.0, 0.05, 0.5])
def test_front_trials_match_pareto_front(demo, tolerance):
    from nas_sr.browse.large import front_trials
    from nas_sr.search.objectives import objectives_of_study, parse_objectives
    from nas_sr.search.report import pareto_front

    _, study = demo
    for objectives in (objectives_of_study(study.metric_names, study.directions),
                       parse_objectives("psnr,params", ["val"])):
        fast = front_trials(study, objectives, tolerance)
        slow = pareto_front(study, objectives, tolerance) if tolerance else pareto_front(study, objectives, 0.0)
        assert [t.number for t in fast] == [t.number for t in slow] and len(fast) > 0
        assert all(t.state.name == "COMPLETE" for t in fast)
    assert len(front_trials(study, objectives, 0.5)) > len(front_trials(study, objectives, 0.0))


def test_non_dominated_with_margins_equals_brute_force():
    import numpy as np

    from nas_sr.search.report import non_dominated

    rng = np.random.default_rng(0)
    directions, margin = ["maximize", "minimize", "minimize"], np.array([0.15, 0.0, 0.1])
    for n in (1, 7, 60, 500):
        points = np.round(rng.normal(size=(n, 3)), 1)  # rounded: ties on every axis
        loss = points * np.array([-1.0, 1.0, 1.0])
        low = loss - margin
        beaten = ((loss[None] <= low[:, None]).all(2) & (loss[None] < low[:, None]).any(2)).any(1)
        assert non_dominated(points.tolist(), directions, margin.tolist()) == np.flatnonzero(~beaten).tolist()


def test_trials_limit_lists_the_latest(demo, cli):
    import json

    url, study = demo
    status, out, _ = cli("trials", "--study", "demo", "--storage", url, "--limit", "5", "--format", "json")
    assert status == 0
    assert [row["number"] for row in json.loads(out)] == [295, 296, 297, 298, 299]
    status, out, _ = cli("trials", "--study", "demo", "--storage", url, "--state", "fail", "--limit", "3",
                         "--format", "json")
    fails = [t.number for t in study.trials if t.state.name == "FAIL"][-3:]
    assert [row["number"] for row in json.loads(out)] == fails and [r["state"] for r in json.loads(out)] == ["FAIL"] * 3


def test_pareto_cli_prints_the_front(demo, cli):
    import json

    from nas_sr.search.report import pareto_front

    url, study = demo
    status, out, _ = cli("pareto", "--study", "demo", "--storage", url, "--format", "json")
    assert status == 0
    assert [row["number"] for row in json.loads(out)] == [t.number for t in pareto_front(study)]


def test_large_traces_hover_lean_small_ones_keep_the_config(monkeypatch):
    """A trace over LEAN_HOVER_FROM points carries no per-point text (numbers and axes only, typed
    arrays); a smaller one keeps the config in its hover."""
    import pandas as pd

    from nas_sr.browse import report
    from nas_sr.search.objectives import parse_objectives

    x, y = parse_objectives("params,psnr", ["val"])
    frame = pd.DataFrame({"params": [10.0, 20.0, 30.0], "psnr_val": [30.0, 31.0, 32.0], "family": ["a"] * 3,
                          "config": ['{"k":1}'] * 3}, index=pd.Index([4, 7, 9], name="number"))
    small = report._scatter(frame, x, y, mode="markers")
    assert '{"k":1}' in small.text[0] and list(small.customdata) == [4, 7, 9]
    monkeypatch.setattr(report, "LEAN_HOVER_FROM", 2)
    lean = report._scatter(frame, x, y, mode="markers")
    assert lean.text is None and list(lean.customdata) == [4, 7, 9] and "%{customdata}" in lean.hovertemplate
    assert list(lean.x) == [10.0, 20.0, 30.0] and list(lean.y) == [30.0, 31.0, 32.0]
