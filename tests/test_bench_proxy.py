"""eSR-Bench in proxy mode on a tiny table: the search sees brief-training PSNR, the table measures."""

from __future__ import annotations

import csv
import json
import pickle

import pytest

from nas_sr.bench.esr import load_instance
from nas_sr.bench.proxy import load_proxy
from nas_sr.bench.runner import bench, run_strategy

SPACE = """
name: tiny
scales: [2]
color: y
branches:
  - family: esr-tm
    params: {kernel_size: [3, 5], channels: [2, 4]}
  - family: bicubic
"""
#: model id -> (table PSNR, parameters, brief-training PSNR). eSR-TM K5 C2 is dominated in the table
#: (K3 C4 has as many parameters and 0.5 dB more) but its brief training overrates it.
MODELS = {
    "Bicubic_s2": (30.0, 10, 29.5),
    "eSR-TM_s2_K3_C2": (31.0, 100, 30.5),
    "eSR-TM_s2_K3_C4": (32.0, 1000, 30.9),
    "eSR-TM_s2_K5_C2": (31.5, 1000, 31.0),
    "eSR-TM_s2_K5_C4": (33.0, 10000, 32.0),
}


@pytest.fixture
def tiny(tmp_path):
    from nas_sr.models.esr_ids import config_from_esr_id
    from nas_sr.models.registry import config_key

    space = tmp_path / "tiny.yaml"
    space.write_text(SPACE)
    table = {i: {"psnr_Set5": p, "psnr_Set14": p, "psnr_BSDS100": p, "parameters": n, "speed_AGX": 1e4 / n,
                 "speed_RPI": 1e3 / n} for i, (p, n, _) in MODELS.items()}
    proxy = tmp_path / "proxy.csv"
    with open(proxy, "w", newline="") as f:
        writer = csv.DictWriter(f, ["model_id", "config", "steps", "seed", "status", "psnr"])
        writer.writeheader()
        for model_id, (_, _, brief) in MODELS.items():
            key = config_key(config_from_esr_id(model_id))
            writer.writerow({"model_id": model_id, "config": key, "steps": 4000, "seed": 0, "status": "ok",
                             "psnr": brief})
            writer.writerow({"model_id": model_id, "config": key, "steps": 1000, "seed": 0, "status": "ok",
                             "psnr": brief - 1})
    pickled = tmp_path / "tests.pkl"
    pickled.write_bytes(pickle.dumps(table))
    keys = {i: config_key(config_from_esr_id(i)) for i in MODELS}
    return load_instance(table, "B", 2, space_file=space), proxy, space, pickled, keys


def test_exact_mode_reaches_the_whole_front_and_proxy_mode_reports_what_it_saw(tiny):
    instance, proxy_file, _, _, keys = tiny
    exact, _ = run_strategy(instance, "grid", 5, seed=0)
    assert exact[-1] == pytest.approx(1.0)
    proxy = load_proxy(proxy_file)
    assert proxy.steps == 4000 and proxy.value(keys["eSR-TM_s2_K5_C2"]) == 31.0
    curve, study = run_strategy(instance, "grid", 5, seed=0, proxy=proxy)
    # The proxy's front swaps the truly better K3 C4 for K5 C2 (same parameters, overrated).
    reported = [keys[i] for i in ("Bicubic_s2", "eSR-TM_s2_K3_C2", "eSR-TM_s2_K5_C2", "eSR-TM_s2_K5_C4")]
    assert curve[-1] == pytest.approx(instance.hv_ratio(reported))
    assert curve[-1] < instance.hv_ratio(list(instance.rows)) - 0.05
    # The study saw the proxy; the truth rides along as table_psnr.
    by_key = {t.user_attrs["config"]: t for t in study.trials}
    k5c2 = by_key[keys["eSR-TM_s2_K5_C2"]]
    assert k5c2.values[0] == 31.0 and k5c2.user_attrs["psnr"] == 31.0 and k5c2.user_attrs["table_psnr"] == 31.5


def test_reported_front_changes_as_evaluations_arrive(tiny):
    instance, _, _, _, keys = tiny
    order = ["eSR-TM_s2_K3_C4", "eSR-TM_s2_K5_C2", "eSR-TM_s2_K5_C4"]
    seen = [[30.9, -3.0], [31.0, -3.0], None]  # K5 C4's training failed
    curve = instance.reported_curve([keys[i] for i in order], seen)
    first = instance.hv_ratio([keys["eSR-TM_s2_K3_C4"]])
    assert curve == pytest.approx([first, instance.hv_ratio([keys["eSR-TM_s2_K5_C2"]]),
                                   instance.hv_ratio([keys["eSR-TM_s2_K5_C2"]])])
    assert curve[1] < curve[0]  # the overrated model displaced the better one: the truth fell
    # Reported with its uncertainty (0.2 dB), the near-tie keeps both: nothing is lost.
    both = [keys["eSR-TM_s2_K3_C4"], keys["eSR-TM_s2_K5_C2"]]
    tolerant = instance.reported_curve([keys[i] for i in order], seen, tolerance=0.2)
    assert tolerant == pytest.approx([first, instance.hv_ratio(both), instance.hv_ratio(both)])
    assert tolerant[1] == pytest.approx(first)  # K5 C2 adds nothing to the truth that K3 C4 has
    assert instance.reported_curve([keys[i] for i in order], seen, tolerance=0.05)[1] == pytest.approx(curve[1])


def test_a_failed_proxy_training_fails_the_trial(tiny, tmp_path):
    instance, proxy_file, _, _, keys = tiny
    with open(proxy_file, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row["model_id"] == "eSR-TM_s2_K5_C4" and row["steps"] == "4000":
            row.update(status="failed: diverged at step 12", psnr="")
    broken = tmp_path / "broken.csv"
    with open(broken, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    proxy = load_proxy(broken)
    assert proxy.value(keys["eSR-TM_s2_K5_C4"]) is None
    curve, study = run_strategy(instance, "grid", 5, seed=0, proxy=proxy)
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert [t.user_attrs["config"] for t in failed] == [keys["eSR-TM_s2_K5_C4"]]
    # Without its largest model the reported front misses that corner of the truth.
    assert curve[-1] < 1.0


def test_bench_names_its_mode(tiny):
    instance, proxy_file, _, _, _ = tiny
    exact = bench(instance, "random", 6, 2)
    proxied = bench(instance, "random", 6, 2, load_proxy(proxy_file, 1000))
    assert exact["mode"] == "exact" and "proxy" not in exact
    assert (proxied["mode"], proxied["proxy_steps"], proxied["proxy"]) == ("proxy", 1000, str(proxy_file))


def test_cli_proxy_mode_and_its_errors(cli, tiny, tmp_path, monkeypatch):
    import nas_sr.bench.esr as esr

    instance, proxy_file, space, pickled, _ = tiny
    monkeypatch.setattr(esr, "SPACE_FILE", space)
    args = ("bench", "esr", "--table", str(pickled), "--trust-pickle", "--problem", "B", "--scale", "2",
            "--strategy", "grid", "--budget", "5", "--seeds", "1")
    status, out, err = cli(*args, "--proxy", str(proxy_file), "--format", "json")
    assert status == 0, err
    result = json.loads(out)
    assert (result["mode"], result["proxy_steps"]) == ("proxy", 4000)
    assert result["hv_ratio"]["median"] < 0.95 and result["evals_to"]["0.9"] is None  # reached at 2, then lost
    status, out, err = cli(*args, "--proxy", str(proxy_file))
    assert status == 0 and "proxy mode" in out and "4000 steps" in out
    status, out, err = cli(*args)
    assert status == 0 and "exact mode" in out and "HV ratio at 5: median 1.0000" in out
    # One-line errors naming the file, the line and the field.
    status, _, err = cli(*args, "--proxy", str(proxy_file), "--proxy-steps", "8000")
    assert status == 2 and "proxy.csv" in err and "steps=8000" in err and "1000, 4000" in err and err.count("\n") == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("config,steps,seed,status,psnr\nk,4000,0,ok,thirty\n")
    status, _, err = cli(*args, "--proxy", str(bad))
    assert status == 2 and "bad.csv:2: psnr = 'thirty'" in err and err.count("\n") == 1
    bad.write_text("config,steps,psnr\nk,4000,30\n")
    status, _, err = cli(*args, "--proxy", str(bad))
    assert status == 2 and "no column seed, status" in err
    status, _, err = cli(*args, "--proxy", str(tmp_path / "missing.csv"))
    assert status == 2 and "missing.csv" in err and err.count("\n") == 1
    status, _, err = cli(*args, "--proxy-steps", "4000")
    assert status == 2 and "--proxy-steps needs --proxy" in err
    # A proxy table that lacks a configuration of the instance.
    partial = tmp_path / "partial.csv"
    partial.write_text("\n".join(proxy_file.read_text().splitlines()[:3]) + "\n")
    status, _, err = cli(*args, "--proxy", str(partial))
    assert status == 2 and "partial.csv: no row at steps=4000 for" in err


def _tie_study(url, tolerance=None):
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=url, study_name="ties", directions=["maximize", "minimize"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["psnr@val", "params"])
    if tolerance is not None:
        study.set_user_attr("front_tolerance", tolerance)
    for i, (psnr, params) in enumerate([(32.00, 100), (32.04, 100), (31.0, 100), (32.5, 200)]):
        trial = study.ask()
        for key, value in {"config": f"c{i}", "family": "f", "psnr_val": psnr, "params": params}.items():
            trial.set_user_attr(key, value)
        study.tell(trial, [psnr, params])
    return study


def test_the_front_with_its_uncertainty_keeps_near_ties(tmp_path, cli):
    from nas_sr.search.report import pareto_front

    study = _tie_study(f"sqlite:///{tmp_path}/old.db")  # no front_tolerance: a study from before, strict
    assert [t.number for t in pareto_front(study)] == [1, 3]
    assert [t.number for t in pareto_front(study, tolerance=0.05)] == [0, 1, 3]  # 0.04 dB short: a tie
    assert [t.number for t in pareto_front(study, tolerance=0.03)] == [1, 3]
    recorded = _tie_study(f"sqlite:///{tmp_path}/new.db", tolerance=0.05)
    assert [t.number for t in pareto_front(recorded)] == [0, 1, 3]
    assert [t.number for t in pareto_front(recorded, tolerance=0.0)] == [1, 3]
    status, out, err = cli("pareto", "--study", "ties", "--storage", f"sqlite:///{tmp_path}/new.db", "--format", "json")
    assert status == 0, err
    assert [row["number"] for row in json.loads(out)] == [0, 1, 3]
    status, out, _ = cli("pareto", "--study", "ties", "--storage", f"sqlite:///{tmp_path}/new.db", "--format", "json",
                         "--tolerance", "0")
    assert [row["number"] for row in json.loads(out)] == [1, 3]


def test_cost_aware_aims_at_the_front_with_its_uncertainty(tiny):
    """A candidate predicted a little under the front gains nothing from a strict front; with the
    front's tolerance it is worth training (its EHVI counts the near-tie)."""
    import numpy as np

    from nas_sr.search.cost_aware import expected_hvi
    from nas_sr.search.strategy import make_strategy

    instance = tiny[0]
    strategy = make_strategy("cost-aware", instance.space, instance.objectives, cost_fn=instance.cost_attrs,
                             front_tolerance=0.1)
    assert strategy.front_tolerance == 0.1
    front = np.array([[0.5, 0.5]])  # unit scales: PSNR, cost
    others = np.array([[0.5]])  # the candidate's cost: the front point's
    mean, std = np.array([0.49]), np.array([1e-6])  # predicted just under the front point's PSNR
    strict = expected_hvi(front, others, mean, std, np.full(2, -0.1))
    lowered = front.copy()
    lowered[:, 0] -= 0.05  # as _best lowers it for a tolerance of 5 % of the PSNR span
    tolerant = expected_hvi(lowered, others, mean, std, np.full(2, -0.1))
    assert strict[0] == pytest.approx(0.0, abs=1e-9) and tolerant[0] == pytest.approx(0.04 * 0.6)


def test_the_committed_proxy_table_covers_the_x2_space(shared):
    """benchmarks/data/esr_x2_proxy.csv: every x2 configuration at 1000 and 4000 steps, over 60 with
    three seeds, and proxy mode runs on it (read, never regenerated)."""
    from pathlib import Path

    from nas_sr.bench.proxy import budgets

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "esr_x2_proxy.csv"
    instance = load_instance(shared / "esr" / "tests.pkl", "B", 2, trust_pickle=True)
    assert budgets(path) == [1000, 4000]
    for steps in (1000, 4000):
        proxy = load_proxy(path, steps)
        assert set(instance.rows) <= set(proxy.values)
        assert sum(proxy.seeds(k) >= 3 for k in instance.rows) >= 60
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"model_id", "config", "steps", "seed", "psnr", "psnr_Set5", "psnr_Set14", "seconds", "batch_size",
            "patch_size", "nas_sr_version", "torch_version", "commit"} <= set(rows[0])
    result = bench(instance, "random", 20, 2, load_proxy(path), 0.05)
    assert result["mode"] == "proxy" and 0.5 < result["hv_ratio"]["median"] < 1.0


def test_the_page_and_pandas_show_the_front_the_search_reported(tmp_path):
    from nas_sr.browse.query import open_study
    from nas_sr.browse.report import front_figure

    _tie_study(f"sqlite:///{tmp_path}/old.db")
    _tie_study(f"sqlite:///{tmp_path}/new.db", tolerance=0.05)
    old, new = (open_study("ties", f"sqlite:///{tmp_path}/{n}.db") for n in ("old", "new"))
    assert (old.front_tolerance, new.front_tolerance) == (0.0, 0.05)
    assert list(old.pareto().index) == [1, 3] and list(new.pareto().index) == [0, 1, 3]

    def highlighted(view):  # trial numbers the front trace of the page draws
        figure = front_figure(view, "params", "psnr@val")
        return sorted(int(n) for trace in figure.data if trace.name and trace.name.startswith("Pareto front")
                      for n in trace.customdata)

    assert highlighted(old) == [1, 3] and highlighted(new) == [0, 1, 3]
