"""Distributed search: a real multi-node Ray cluster on one machine, a real PostgreSQL server.

The PostgreSQL server (the ``postgres`` fixture of ``tests/conftest.py``) is started in a
throw-away folder, on a free port (``.ci/run`` installs the binaries from Debian packages);
without the binaries the PostgreSQL tests are skipped, saying so. Trials use a fast stand-in trainable (``trial_fn``): a short sleep, the
cost of the config from its numbers, constant-ish metrics.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

SPACE = {
    "name": "cluster", "scales": [2], "color": "y",
    "branches": [
        {"family": "esr-max", "params": {"kernel_size": [3, 5, 7, 9], "channels": [1, 2, 3, 4, 5, 6, 7, 8]}},
        {"family": "esr-tm", "params": {"kernel_size": [3, 5, 7, 9], "channels": [1, 2, 3, 4, 5, 6, 7, 8]}},
    ],
}  # 64 configurations


def make_trial_fn(sleep: float, log_dir: str | None = None):
    """A fast stand-in trainable (a closure, so Ray ships it by value)."""

    def fake_trial(config, settings, data):
        import io
        import json
        import os
        import time

        import torch

        params = int(config["kernel_size"]) ** 2 * int(config["channels"]) * (2 if config["family"] == "esr-tm" else 1)
        if log_dir:  # what was run, to compare with what the study recorded
            with open(os.path.join(log_dir, f"{os.getpid()}-{time.monotonic_ns()}.json"), "w") as f:
                json.dump({"config": dict(config), "params": params}, f)
        time.sleep(sleep)
        buffer = io.BytesIO()
        torch.save({}, buffer)
        return {"state": "complete", "cost": {"params": params, "flops": params * 4, "resolution": [64, 64]},
                "metrics": {"psnr_val": 30.0 + params / 1000, "ssim_val": 0.9}, "steps": 1, "seconds": sleep,
                "curve": [], "final_loss": 0.0, "weights": buffer.getvalue()}

    return fake_trial


def options(storage: str, **kw):
    from nas_sr.search.driver import SearchOptions
    from nas_sr.space import SearchSpace

    base = dict(space=SearchSpace.from_dict(SPACE), train_images=[], val_sets={"val": []}, study="c",
                storage=storage, trials=8, workers=4, sampler="random", progress=False,
                objectives="psnr,params", settings={"latency": False}, trial_fn=make_trial_fn(0.2))
    return SearchOptions(**{**base, **kw})


# --- Ray: a 3-node cluster on this machine ---------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    """A head (2 CPUs) and two worker nodes (2 CPUs and 2 fake GPUs each), the driver connected."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    small = {"object_store_memory": 80 * 1024**2}
    c = Cluster(initialize_head=True, connect=True,
                head_node_args={"num_cpus": 2, "num_gpus": 0, "include_dashboard": False, **small})
    workers = [c.add_node(num_cpus=2, num_gpus=2, **small) for _ in range(2)]
    c.wait_for_nodes()
    yield c, workers
    ray.shutdown()
    c.shutdown()


def _db_counts(url: str) -> dict[str, int]:
    """Trial states by plain SQL (opening the study here could race the driver creating the tables)."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=5) as con:
            return dict(con.execute("SELECT state::text, COUNT(*) FROM trials GROUP BY state").fetchall())
    except psycopg.Error:
        return {}


def _states(study) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def test_node_lost_mid_search_postgres(cluster, postgres, tmp_path):
    """4 trials at once on two GPU nodes (1 fake GPU each); one node is removed mid-search."""
    import ray
    from optuna.trial import TrialState

    from nas_sr.search.driver import run_search

    c, (doomed, survivor) = cluster
    storage = postgres.new_database()
    started = tmp_path / "started"
    started.mkdir()
    opts = options(storage, trials=8, workers=4, gpus_per_trial=1, cpus_per_trial=0.5,
                   trial_fn=make_trial_fn(3.0, str(started)), max_retries=2)
    killed: dict[str, object] = {}

    def kill_when_busy():  # once 4 trials are in their trainable, 2 on each GPU node
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(list(started.iterdir())) < 4:
            time.sleep(0.1)
        time.sleep(0.3)
        killed["node"] = doomed.node_id
        c.remove_node(doomed)

    thread = threading.Thread(target=kill_when_busy, daemon=True)
    thread.start()
    outcome = run_search(opts)
    thread.join(timeout=5)
    assert killed, "the node was never removed"
    study = outcome.study
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert outcome.complete == len(complete) == 8
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert failed, "removing a busy node failed no trial"
    for t in failed:
        reason = t.user_attrs.get("fail_reason", "")
        print(f"trial {t.number} FAIL: {reason}")  # shown with pytest -rP
        assert reason.startswith(("node lost", "worker died")), reason
        assert "retry" in reason
    retried = [t for t in trials if "retry_of" in t.user_attrs]
    assert {t.user_attrs["retry_of"] for t in retried} == {t.number for t in failed}
    for t in retried:  # the lost configuration ran again
        assert t.user_attrs["config"] == study.trials[t.user_attrs["retry_of"]].user_attrs["config"]
    alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    for t in complete:  # provenance
        a = t.user_attrs
        assert a["ray_node_id"] in alive | {killed["node"]} and a["ray_node_ip"] and a["train_device"]
        assert a["sampler"] == "random" and a["seed"] == 0 and a["nas_sr_version"]
        assert a.get("ray_gpu_ids") is not None  # a fake GPU was reserved
    assert len({t.user_attrs["config"] for t in complete}) == 8


def test_stress_8_workers_50_trials_postgres(cluster, postgres, tmp_path):
    """Every trial run is recorded exactly once, with the values its worker returned."""
    import json

    import sqlalchemy
    from optuna.trial import TrialState

    from nas_sr.search.driver import run_search

    storage = postgres.new_database()
    log = tmp_path / "runs"
    log.mkdir()
    outcome = run_search(options(storage, trials=50, workers=8, cpus_per_trial=0.25,
                                 trial_fn=make_trial_fn(0.05, str(log))))
    trials = outcome.study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert outcome.complete == len(complete) == 50
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    runs = [json.loads(p.read_text()) for p in log.iterdir()]
    assert len(runs) == 50, "a config was run more or less often than recorded"
    ran = {json.dumps(r["config"], sort_keys=True): r["params"] for r in runs}
    recorded = {json.dumps(json.loads(t.user_attrs["config"]), sort_keys=True): t for t in complete}
    assert len(recorded) == 50 and set(ran) == set(recorded), "duplicates or lost trials"
    for key, t in recorded.items():  # no lost writes: values and attributes as the worker returned
        assert t.user_attrs["params"] == ran[key] and t.values == [30.0 + ran[key] / 1000, ran[key]]
        assert "weights_artifact" in t.user_attrs and "ray_node_id" in t.user_attrs
    engine = sqlalchemy.create_engine(storage.replace("+psycopg", "+psycopg"))
    with engine.connect() as con:
        rows = con.execute(sqlalchemy.text("SELECT number FROM trials")).scalars().all()
    engine.dispose()
    assert sorted(rows) == list(range(len(trials))), "trial numbers repeated or missing"


def test_sqlite_many_workers_never_locked(cluster, tmp_path):
    """The driver is SQLite's only writer: 6 trials at once, while a reader polls the file."""
    from optuna.trial import TrialState

    from nas_sr.search.driver import run_search

    db = tmp_path / "db.sqlite"
    errors: list[str] = []
    stop = threading.Event()

    def reader():  # like `nas-sr pareto` during a search
        while not stop.is_set():
            try:
                with sqlite3.connect(db, timeout=30) as con:
                    con.execute("SELECT COUNT(*) FROM trials").fetchall()
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc):
                    errors.append(str(exc))
            time.sleep(0.02)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        outcome = run_search(options(f"sqlite:///{db}", trials=24, workers=6, cpus_per_trial=0.25,
                                     trial_fn=make_trial_fn(0.05)))
    finally:
        stop.set()
        thread.join(timeout=5)
    trials = outcome.study.get_trials()
    assert outcome.complete == 24 and not errors
    assert not [t for t in trials if t.state == TrialState.FAIL]


def test_journal_storage(cluster, tmp_path):
    from nas_sr.search.driver import run_search

    outcome = run_search(options(f"journal:{tmp_path}/study.log", trials=6, workers=3, cpus_per_trial=0.25))
    assert outcome.complete == 6 and (tmp_path / "study.log").stat().st_size > 0
    assert (tmp_path / "artifacts").is_dir()


def test_database_restart_is_survived_then_outage_stops_and_resume_continues(cluster, postgres, monkeypatch):
    """A short database restart mid-search is retried through; a lasting outage stops the search
    cleanly (StorageUnavailable, no trial told wrongly), and --resume finishes it."""
    from optuna.trial import TrialState

    import nas_sr.study.storage as study_module
    from nas_sr.search.driver import run_search
    from nas_sr.study.storage import StorageUnavailable

    monkeypatch.setattr(study_module, "STORAGE_FIRST_DELAY", 0.3)  # 0.3+0.6+1.2+2.4 s of retries
    storage = postgres.new_database()

    def restart_when(n_complete: int, down: float | None):
        def go():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and _db_counts(storage).get("COMPLETE", 0) < n_complete:
                time.sleep(0.2)
            postgres.stop("fast")
            if down is not None:
                time.sleep(down)
                postgres.start()

        thread = threading.Thread(target=go, daemon=True)
        thread.start()
        return thread

    thread = restart_when(2, down=1.0)
    outcome = run_search(options(storage, trials=6, workers=2, cpus_per_trial=0.5, trial_fn=make_trial_fn(0.5)))
    thread.join(timeout=30)
    assert outcome.complete == 6
    assert not [t for t in outcome.study.get_trials() if t.state == TrialState.RUNNING]

    thread = restart_when(8, down=None)  # and it does not come back
    start = time.monotonic()
    with pytest.raises(StorageUnavailable, match="unreachable"):
        run_search(options(storage, trials=14, workers=2, cpus_per_trial=0.5, trial_fn=make_trial_fn(0.5),
                           resume=True))
    assert time.monotonic() - start < 60
    thread.join(timeout=30)
    postgres.start()
    outcome = run_search(options(storage, trials=14, workers=2, cpus_per_trial=0.5, trial_fn=make_trial_fn(0.1),
                                 resume=True))
    trials = outcome.study.get_trials()
    assert outcome.complete == 14 == sum(t.state == TrialState.COMPLETE for t in trials)
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    stale = [t for t in trials if t.user_attrs.get("fail_reason") == "stale: driver stopped"]
    assert stale, "the outage left no trial RUNNING for --resume to fail"
    for t in stale:  # their configurations were queued again
        if t.params:
            assert any(u.user_attrs.get("retry_of") == t.number for u in trials), t.number


def test_same_seed_proposes_same_configs(cluster, tmp_path):
    from nas_sr.search.driver import run_search

    runs = []
    for name in ("a", "b"):
        outcome = run_search(options(f"sqlite:///{tmp_path}/{name}.db", trials=5, workers=1, seed=7,
                                     sampler="tpe", cpus_per_trial=0.25, trial_fn=make_trial_fn(0.0)))
        runs.append([t.user_attrs["config"] for t in outcome.study.get_trials()])
        assert {t.user_attrs["sampler_seed"] for t in outcome.study.get_trials() if t.state.name == "COMPLETE"} == {7}
    assert runs[0] == runs[1]


def test_more_gpus_per_trial_than_the_cluster_has(cluster, tmp_path, cli):
    from nas_sr.search.driver import run_search

    with pytest.raises(ValueError, match=r"the Ray cluster has \d+ GPU\(s\) in all; a trial asks for 5"):
        run_search(options(f"sqlite:///{tmp_path}/db.sqlite", gpus_per_trial=5))
    status, _, err = cli("search", "--storage", f"sqlite:///{tmp_path}/cli.db", "--address", "auto",
                         "--gpus-per-trial", "4.5", "--cpus-per-trial", "0.5", "--no-progress")
    assert status == 2 and "a trial asks for 4.5 (--gpus-per-trial)" in err


def test_worker_killed_retried_then_left_fail(cluster, tmp_path):
    """kill -9 of the worker process: one config dies once (its retry completes), another dies
    every time (FAIL after --max-retries re-runs); the search still gets its COMPLETE count."""
    from optuna.trial import TrialState

    from nas_sr.search.driver import run_search

    marks = tmp_path / "marks"
    marks.mkdir()
    inner = make_trial_fn(0.1)

    def dying(config, settings, data):
        import os
        import signal

        name = f"{config['family']}-{config['kernel_size']}-{config['channels']}"
        if name == "esr-max-3-1" or (name == "esr-max-3-2" and not os.path.exists(os.path.join(str(marks), name))):
            open(os.path.join(str(marks), name), "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return inner(config, settings, data)

    opts = options(f"sqlite:///{tmp_path}/db.sqlite", trials=6, workers=2, sampler="grid", cpus_per_trial=0.25,
                   trial_fn=dying, max_retries=2)
    outcome = run_search(opts)
    trials = outcome.study.get_trials()
    by_config: dict[str, list] = {}
    for t in trials:
        by_config.setdefault(f"{t.params.get('esr-max.kernel_size')}-{t.params.get('esr-max.channels')}", []).append(t)
    assert outcome.complete == 6 and not [t for t in trials if t.state == TrialState.RUNNING]
    always = by_config["3-1"]  # the first try and 2 retries, all FAIL
    assert [t.state for t in always] == [TrialState.FAIL] * 3
    assert [t.user_attrs.get("attempt", 0) for t in always] == [0, 1, 2]
    for t in always:
        print(f"trial {t.number} FAIL: {t.user_attrs['fail_reason']}")  # shown with pytest -rP
        assert t.user_attrs["fail_reason"].startswith("worker died"), t.user_attrs["fail_reason"]
    assert "retry" not in always[-1].user_attrs["fail_reason"]  # the last one is left FAIL
    once = by_config["3-2"]
    assert [t.state for t in once] == [TrialState.FAIL, TrialState.COMPLETE]
    assert once[1].user_attrs["retry_of"] == once[0].number


def test_second_search_on_one_sqlite_file_is_refused(cluster, tmp_path):
    from nas_sr.search.driver import run_search
    from nas_sr.study.storage import writer_lock

    url = f"sqlite:///{tmp_path}/db.sqlite"
    held = writer_lock(url)  # as a running search holds it
    try:
        with pytest.raises(ValueError, match="another nas-sr search is writing .*SQLite takes one writer"):
            run_search(options(url, trials=2))
    finally:
        held.close()
    assert run_search(options(url, trials=2, workers=1, cpus_per_trial=0.25)).complete == 2
    run_search(options(url, trials=3, workers=1, cpus_per_trial=0.25, resume=True))  # released after each
