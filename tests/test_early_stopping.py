"""MO-ASHA early stopping: the promotion rule, the rung board, and a small search end to end."""

from __future__ import annotations

import json
import math

import pytest

from nas_sr.search.early_stopping import (
    EarlyStopping,
    RungBoard,
    RungReporter,
    crowding_distances,
    mo_order,
    promotable,
)

OBJ = [("psnr_val", "maximize"), ("params", "minimize")]


def test_rank_then_crowding_order():
    # minimised losses: three on the first front, (4, 4) behind (3, 3), (5, 5) behind (4, 4)
    losses = [[1, 5], [2, 4], [3, 3], [4, 4], [5, 5]]
    assert mo_order(losses) == [0, 2, 1, 3, 4]
    d = crowding_distances([[1, 5], [2, 4], [3, 3]])
    assert math.isinf(d[0]) and math.isinf(d[2]) and d[1] == pytest.approx(2.0)
    # within a front, the less crowded middle point comes before the crowded one
    assert mo_order([[0, 10], [1, 9], [1.1, 8.9], [5, 5], [10, 0]])[:3] == [0, 4, 3]


def test_promotable_top_one_over_eta():
    assert promotable([[1, 1]], 0, 3)  # the first at a rung goes on
    pts = [[3, 3], [1, 1], [2, 2]]
    assert [promotable(pts, i, 3) for i in range(3)] == [False, True, False]
    six = [[i, 6 - i] for i in range(6)]  # one front of six: keep 2, the boundaries
    assert [promotable(six, i, 3) for i in range(6)] == [True, False, False, False, False, True]


def test_board_decides_asynchronously():
    board = RungBoard(OBJ, 3)
    assert board.report("a", 0, {"psnr_val": 30.0, "params": 100})  # alone at the rung
    assert not board.report("b", 0, {"psnr_val": 29.0, "params": 200})  # dominated by a
    assert board.report("c", 0, {"psnr_val": 31.0, "params": 50})  # dominates both
    # a trade-off point arrives: 4 at the rung, keep 1; c and d are the two extremes of the first front
    # (both infinitely crowded): a tie with the place kept goes on
    assert board.report("d", 0, {"psnr_val": 33.0, "params": 400})
    # a middle point of the first front, less crowded than the extremes, does not (5 at the rung, keep 1)
    assert not board.report("f", 0, {"psnr_val": 32.0, "params": 300})
    assert board.counts() == {0: 5}
    # a higher rung is judged among its own trials only
    assert board.report("c", 1, {"psnr_val": 32.0, "params": 50})
    # another family is judged apart: alone at its rung, a newcomer goes on however it compares
    assert board.report("g", 0, {"psnr_val": 20.0, "params": 900, "family": "esr-cnn"})
    assert not board.report("h", 0, {"psnr_val": 19.0, "params": 950, "family": "esr-cnn"})
    assert board.counts() == {0: 7, 1: 1}
    # a NaN quality never goes on
    assert not board.report("e", 0, {"psnr_val": float("nan"), "params": 1})
    # the board seeded from a study's history (resume) decides as if it had seen those reports
    seeded = RungBoard(OBJ, 3, history=[("a", 0, {"psnr_val": 30.0, "params": 100}),
                                        ("c", 0, {"psnr_val": 31.0, "params": 50})])
    assert not seeded.report("b", 0, {"psnr_val": 29.0, "params": 200})


def test_rungs_and_settings():
    assert EarlyStopping("mo-asha", 100, 3).rungs(900) == [100, 300]
    assert EarlyStopping("mo-asha", 10, 2).rungs(100) == [10, 20, 40, 80]
    assert EarlyStopping("mo-asha", None, 3).rungs(900) == [100, 300]
    with pytest.raises(ValueError, match="steps budget"):
        EarlyStopping("mo-asha", 10).rungs(None)
    with pytest.raises(ValueError, match="no rung below"):
        EarlyStopping("mo-asha", 100).rungs(100)
    with pytest.raises(ValueError, match="reduction_factor"):
        EarlyStopping("mo-asha", 10, 1)
    with pytest.raises(ValueError, match="unknown early stopping"):
        EarlyStopping("hyperband")


def test_reporter_stops_at_a_losing_rung():
    board = RungBoard(OBJ, 2)
    first = RungReporter({"board": board, "trial": 0, "rungs": [2, 4]}, {"params": 10})
    assert first.at_validation(2, {"psnr_val": 30.0}) and first.at_validation(3, {"psnr_val": 1.0})
    assert first.at_validation(4, {"psnr_val": 31.0})
    assert first.outcome() == {"rung_values": [
        {"rung": 0, "step": 2, "attrs": {"params": 10, "psnr_val": 30.0}},
        {"rung": 1, "step": 4, "attrs": {"params": 10, "psnr_val": 31.0}}]}
    second = RungReporter({"board": board, "trial": 1, "rungs": [2, 4]}, {"params": 20})
    assert not second.at_validation(2, {"psnr_val": 29.0})
    out = second.outcome()
    assert out["state"] == "pruned" and out["stopped_at_rung"] == 0 and len(out["rung_values"]) == 1


TINY_SPACE = """\
name: tiny
scales: [2]
color: y
branches:
  - family: esr-max
    params: {kernel_size: [3, 5], channels: [1, 2, 4]}
  - family: espcn
    params: {width1: [0], width2: [3]}
"""


@pytest.mark.slow
def test_search_with_mo_asha(tmp_path, cli, bundled_crops):
    """Real tiny trainings on the grid of a 7-config space; MO-ASHA stops some at a rung."""
    import ray
    from optuna.trial import TrialState

    from nas_sr.search.driver import SearchOptions, run_search
    from nas_sr.space import load_space

    (tmp_path / "tiny.yaml").write_text(TINY_SPACE)
    settings = {"max_steps": 18, "batch_size": 4, "patch_size": 12, "patches": 64, "resolution": [64, 64],
                "latency": False, "log_every": 3}
    storage = f"sqlite:///{tmp_path}/db.sqlite"
    opts = SearchOptions(space=load_space(tmp_path / "tiny.yaml"), train_images=bundled_crops("train", 96),
                         val_sets={"val": bundled_crops("val", 48)}, study="es", storage=storage, trials=7,
                         workers=2, sampler="grid", settings=settings, objectives="psnr,params",
                         progress=False, early_stopping=EarlyStopping("mo-asha", 2, 3))
    # address="local": a new cluster of this test's own, even when another one runs on the machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        outcome = run_search(opts)
    finally:
        ray.shutdown()
    study = outcome.study
    trials = study.get_trials()
    by_state = {s: [t for t in trials if t.state == s] for s in TrialState}
    assert not by_state[TrialState.RUNNING] and not by_state[TrialState.FAIL]
    pruned = [t for t in by_state[TrialState.PRUNED] if t.user_attrs.get("early_stopped")]
    complete = by_state[TrialState.COMPLETE]
    assert pruned and complete and len(pruned) + len(complete) == 7
    assert study.user_attrs["early_stopping"]["rungs"] == [2, 6]
    for t in pruned:
        rung = t.user_attrs["stopped_at_rung"]
        values = t.user_attrs["rung_values"]
        assert [v["rung"] for v in values] == list(range(rung + 1))
        assert t.user_attrs["steps"] == [2, 6][rung] and "psnr_val" in values[-1]["attrs"]
        assert t.values is None
    for t in complete:
        assert t.user_attrs["steps"] == 18 and len(t.user_attrs["rung_values"]) == 2
    front = {t.number for t in study.best_trials}
    assert front and front <= {t.number for t in complete}
    status, out, _ = cli("pareto", "--study", "es", "--storage", storage, "--format", "json")
    assert status == 0
    rows = json.loads(out)
    assert {r["number"] for r in rows} == front and all(r["state"] == "COMPLETE" for r in rows)


@pytest.mark.parametrize("args, message", [
    (["--early-stopping", "mo-asha", "--budget-seconds", "10"], "needs a steps budget (--budget-steps)"),
    (["--early-stopping", "mo-asha", "--budget-steps", "10", "--min-steps", "10"], "leaves no rung below"),
    (["--early-stopping", "mo-asha", "--budget-steps", "90", "--reduction-factor", "1"], "reduction_factor"),
])
def test_cli_early_stopping_errors(cli, args, message):
    status, out, err = cli("search", *args, "--no-progress")
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1
