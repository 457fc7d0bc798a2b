"""nas_sr.search: the ask/tell driver with Ray trials, resume after kill -9, failures, CLI errors."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from nas_sr.search.constraints import parse_constraint
from nas_sr.search.objectives import parse_objectives
from nas_sr.search.report import non_dominated

TINY_SPACE = """\
name: tiny
scales: [2]
color: y
branches:
  - family: esr-max
    params: {kernel_size: [3, 5], channels: [1, 2]}
  - family: espcn
    params: {width1: [0], width2: [3]}
  - family: bicubic
"""
#: Worker settings for tiny trials: few steps, small patches, a small latency resolution.
TINY = {"max_steps": 20, "batch_size": 4, "patch_size": 12, "patches": 64, "resolution": [64, 64],
        "latency_repeats": 2, "log_every": 5}
TINY_ARGS = ["--batch-size", "4", "--patch-size", "12", "--resolution", "64x64", "--latency-repeats", "2",
             "--no-progress"]
REQUIRED_ATTRS = ("config", "family", "scale", "psnr_val", "ssim_val", "flops", "params", "latency_ms", "device",
                  "steps", "seconds", "seed", "nas_sr_version", "weights_artifact")


@pytest.fixture(scope="module")
def data(tmp_path_factory, bundled_crops) -> dict:
    """Tiny crops of the bundled photos, in memory and as folders, and the tiny space file."""
    root = tmp_path_factory.mktemp("search_data")
    sets = {"train": bundled_crops("train", 96), "val": bundled_crops("val", 64)}
    for split, images in sets.items():
        (root / split).mkdir()
        for name, image in images:
            Image.fromarray(image).save(root / split / f"{name}.png")
    (root / "tiny.yaml").write_text(TINY_SPACE)
    return {"root": root, **sets}


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """One local Ray for the in-process searches of this module (the driver then leaves it up)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def options(data: dict, tmp_path: Path, **kw):
    from nas_sr.search.driver import SearchOptions
    from nas_sr.space import load_space

    base = dict(space=load_space(data["root"] / "tiny.yaml"), train_images=data["train"],
                val_sets={"val": data["val"]}, study="t", storage=f"sqlite:///{tmp_path}/db.sqlite",
                trials=4, workers=2, sampler="random", settings=dict(TINY), progress=False)
    return SearchOptions(**{**base, **kw})


def test_search_records_trials_and_front(data, tmp_path, ray_cluster, cli):
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    from nas_sr.search.driver import run_search

    outcome = run_search(options(data, tmp_path, constraints=["params<=150"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts", "db.sqlite"]  # no db.sqlite.lock left
    study = outcome.study
    assert study.metric_names == ["psnr@val", "latency_ms", "params"]
    assert study.directions == [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE, StudyDirection.MINIMIZE]
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert outcome.complete == len(complete) == 4
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert len({t.user_attrs["config"] for t in complete}) == 4, "a config was trained twice"
    for t in complete:
        missing = [k for k in REQUIRED_ATTRS if k not in t.user_attrs]
        assert not missing, f"trial {t.number} lacks {missing}"
        assert t.user_attrs["steps"] == TINY["max_steps"]
        assert t.values == [t.user_attrs["psnr_val"], t.user_attrs["latency_ms"], t.user_attrs["params"]]
        assert json.loads(t.user_attrs["config"])["family"] == t.user_attrs["family"]
        assert t.constraints == {"params<=150": t.user_attrs["params"] - 150}
        assert (tmp_path / "artifacts").is_dir()
    for t in trials:
        if t.state == TrialState.PRUNED:  # duplicate proposals point at the trial that holds the result
            twin = study.trials[t.user_attrs["duplicate_of"]]
            assert twin.user_attrs["config"] == t.user_attrs["config"]

    status, out, _ = cli("pareto", "--study", "t", "--storage", f"sqlite:///{tmp_path}/db.sqlite", "--format", "json")
    assert status == 0
    printed = {row["number"] for row in json.loads(out)}
    feasible = [t for t in complete if t.user_attrs["params"] <= 150]
    points = [list(t.values) for t in feasible]
    expected = {feasible[i].number for i in non_dominated(points, ["maximize", "minimize", "minimize"])}
    assert printed == expected and printed

    # Another objective subset: computed over the user attributes.
    status, out, _ = cli("pareto", "--study", "t", "--storage", f"sqlite:///{tmp_path}/db.sqlite",
                         "--objectives", "params,flops", "--format", "csv")
    assert status == 0 and out.splitlines()[0].startswith("number,state,params,flops")
    status, out, _ = cli("trials", "--study", "t", "--storage", f"sqlite:///{tmp_path}/db.sqlite", "--state",
                         "complete", "--format", "json")
    assert status == 0 and sorted(r["number"] for r in json.loads(out)) == sorted(t.number for t in complete)


def test_rerun_without_study_continues_it_and_names_every_output(data, tmp_path, ray_cluster, cli):
    import optuna

    root, db = data["root"], tmp_path / "db.sqlite"
    url = f"sqlite:///{db}"

    def search(*extra: str, trials: int = 2, space: Path = root / "tiny.yaml") -> tuple[int, str, str]:
        return cli("search", "--space", str(space), "--storage", url, "--trials", str(trials), "--sampler",
                   "random", "--train", str(root / "train"), "--val", str(root / "val"), "--budget-steps", "20",
                   *TINY_ARGS, *extra)

    def trials() -> list:
        return optuna.load_study(study_name="default", storage=url).trials

    status, out, err = search()
    assert status == 0 and "continuing" not in err
    assert out.splitlines()[-3:] == [f"storage: {url} (study default)", f"trial weights: {tmp_path}/artifacts/",
                                      f"front plot: {tmp_path}/default_front.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts", "db.sqlite", "default_front.html"]
    before = len(trials())

    status, out, err = search()  # the set-up command again: continued, nothing left to train
    assert status == 0 and f"continuing study 'default' of {url}: 2 COMPLETE trials, nothing to train" in err
    assert len(trials()) == before and out.splitlines()[-1] == f"front plot: {tmp_path}/default_front.html"

    status, out, err = search(trials=3)
    assert status == 0 and "2 COMPLETE trials, training up to --trials 3" in err
    assert sum(t.state.name == "COMPLETE" for t in trials()) == 3

    other = root / "tiny_other.yaml"
    other.write_text(TINY_SPACE.replace("name: tiny", "name: other"))
    status, _, err = search(space=other)
    assert status == 2 and f"(a search of {root / 'tiny.yaml'}, not {other}); add --resume" in err
    status, _, err = search("--study", "default")  # a named study still needs --resume
    assert status == 2 and "already has trials; add --resume" in err
    assert not (tmp_path / "db.sqlite.lock").exists()


def test_diverging_candidate_fails_and_search_completes(data, tmp_path, ray_cluster):
    from optuna.trial import TrialState

    from nas_sr.search.driver import run_search

    def lr_bomb(config, settings, images):
        """The real worker, with an absurd learning rate for esr-max with 2 channels."""
        from nas_sr.search.worker import run_trial

        if config["family"] == "esr-max" and config["channels"] == 2:
            settings = {**settings, "lr": 1e6}
        return run_trial(config, settings, images)

    outcome = run_search(options(data, tmp_path, trials=4, sampler="grid", trial_fn=lr_bomb))
    trials = outcome.study.get_trials()
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4 == outcome.complete
    assert len(failed) == 2 == outcome.failed  # kernel 3 and 5 with 2 channels
    for t in failed:
        assert "diverged" in t.user_attrs["fail_reason"] or "not finite" in t.user_attrs["fail_reason"]
        assert "\n" not in t.user_attrs["fail_reason"]
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def _counts(db: Path) -> dict[str, int]:
    try:
        with sqlite3.connect(db) as con:
            return dict(con.execute("SELECT state, COUNT(*) FROM trials GROUP BY state").fetchall())
    except sqlite3.OperationalError:  # the driver is still creating the tables
        return {}


def _kill_leftovers(ray_dir: Path) -> None:
    """Kill (by pid) processes of the killed run that still hold files in its Ray folder."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(str(os.readlink(fd)).startswith(str(ray_dir)) for fd in (proc / "fd").iterdir()):
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, PermissionError):
            continue


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the killed run's Ray processes")
@pytest.mark.slow
def test_resume_after_kill_9(data, tmp_path, cli):
    db, ray_dir = tmp_path / "db.sqlite", Path(f"/tmp/nsr-ray-{os.getpid()}")
    root = data["root"]
    command = [sys.executable, "-m", "nas_sr", "search", "--space", str(root / "tiny.yaml"), "--study", "k",
               "--storage", f"sqlite:///{db}", "--trials", "4", "--workers", "2", "--sampler", "random",
               "--train", str(root / "train"), "--val", str(root / "val"), *TINY_ARGS]
    first = subprocess.Popen([*command, "--budget-seconds", "2", "--ray-temp-dir", str(ray_dir)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180  # generous: a loaded machine starts Ray slowly
        while time.monotonic() < deadline:
            counts = _counts(db) if db.exists() else {}
            if counts.get("COMPLETE", 0) >= 1 and counts.get("RUNNING", 0) >= 1:
                break
            assert first.poll() is None, "the search ended before it could be killed"
            time.sleep(0.2)
        else:
            pytest.fail(f"no COMPLETE trial with others RUNNING in time: {counts}")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
        _kill_leftovers(ray_dir)
    from optuna import load_study
    from optuna.trial import TrialState

    before = load_study(study_name="k", storage=f"sqlite:///{db}").get_trials()
    done_before = {t.number: t.user_attrs["config"] for t in before if t.state == TrialState.COMPLETE}
    stale = [t.number for t in before if t.state == TrialState.RUNNING]
    assert done_before and stale

    assert (tmp_path / "db.sqlite.lock").exists()  # kill -9 leaves it (unlocked)
    status, _, err = cli(*command[3:], "--budget-steps", "20")  # in-process: it stops before Ray
    assert status == 2 and "--resume" in err
    assert not (tmp_path / "db.sqlite.lock").exists()  # the refused search took it and removed it

    wanted = len(done_before) + 1  # one more COMPLETE trial than the killed run left
    command[command.index("--trials") + 1] = str(wanted)
    resumed = subprocess.run([*command, "--budget-steps", "20", "--resume"], capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = load_study(study_name="k", storage=f"sqlite:///{db}").get_trials()
    complete = [t for t in after if t.state == TrialState.COMPLETE]
    assert len(complete) == wanted
    assert {n: after[n].user_attrs["config"] for n in done_before} == done_before
    assert all(after[n].state == TrialState.COMPLETE for n in done_before)
    assert len({t.user_attrs["config"] for t in complete}) == wanted
    assert not [t for t in after if t.state == TrialState.RUNNING]
    for n in stale:
        assert after[n].state == TrialState.FAIL and after[n].user_attrs["fail_reason"] == "stale: driver stopped"
    assert "Pareto front" in resumed.stdout and (tmp_path / "k_front.html").read_text().count("plotly") > 10


@pytest.mark.slow
def test_ctrl_c_fails_running_trials(data, tmp_path):
    db, root = tmp_path / "db.sqlite", data["root"]
    run = subprocess.Popen([sys.executable, "-m", "nas_sr", "search", "--space", str(root / "tiny.yaml"),
                            "--storage", f"sqlite:///{db}", "--trials", "3", "--train", str(root / "train"),
                            "--val", str(root / "val"), "--budget-seconds", "60", *TINY_ARGS],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 40
        while (_counts(db) if db.exists() else {}).get("RUNNING", 0) < 2:
            assert time.monotonic() < deadline and run.poll() is None, "no trial started"
            time.sleep(0.2)
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130 and "interrupted" in err
    assert not (tmp_path / "db.sqlite.lock").exists()
    from optuna import load_study

    trials = load_study(study_name="default", storage=f"sqlite:///{db}").get_trials()
    assert trials and all(t.state.name == "FAIL" and t.user_attrs["fail_reason"] == "interrupted" for t in trials)


def test_writer_lock_refuses_a_second_writer_and_removes_its_file(tmp_path, monkeypatch):
    import fcntl

    from nas_sr.study.storage import writer_lock

    url, path = f"sqlite:///{tmp_path}/db.sqlite", tmp_path / "db.sqlite.lock"
    held = writer_lock(url)
    with pytest.raises(ValueError, match="another nas-sr search is writing"):
        writer_lock(url)
    held.close()
    assert not path.exists()

    # A search that opened the lock file just before its holder removed it locks a removed file: it must
    # see that and lock the file at the path, which a third search then finds held.
    real_flock, calls = fcntl.flock, []

    def holder_finishes_first(handle, operation):
        if not calls:
            path.unlink()
        calls.append(operation)
        return real_flock(handle, operation)

    monkeypatch.setattr(fcntl, "flock", holder_finishes_first)
    second = writer_lock(url)
    monkeypatch.setattr(fcntl, "flock", real_flock)
    assert len(calls) == 2 and path.exists()
    with pytest.raises(ValueError, match="another nas-sr search is writing"):
        writer_lock(url)
    second.close()
    writer_lock(url).close()
    assert not path.exists()


@pytest.mark.parametrize("text", ["latency_ms=<33", "latency_ms<=", "speed<=3", "latency_ms<=33ms", "<=3"])
def test_bad_constraints(text):
    with pytest.raises(ValueError, match="bad constraint") as info:
        parse_constraint(text, ["val"])
    assert "\n" not in str(info.value)


def test_constraints_and_objectives_parse():
    c = parse_constraint(" psnr@val > 30 ", ["val"])
    assert c.violation({"psnr_val": 31.0}) == -1.0 and c.violation({"psnr_val": 30.0}) > 0
    assert [o.name for o in parse_objectives("ssim,flops", ["val", "set5"])] == ["ssim@val", "flops"]
    with pytest.raises(ValueError, match="no validation set 'set14'"):
        parse_objectives("psnr@set14", ["val"])
    mean = parse_objectives("psnr@mean,params", ["Set5", "Set14"])[0]
    assert (mean.name, mean.key) == ("psnr@mean", "psnr_mean")
    assert mean.value({"psnr_Set5": 33.0, "psnr_Set14": 30.0, "psnr_mean": 31.5}) == 31.5
    with pytest.raises(ValueError, match="mean needs two or more"):
        parse_objectives("psnr@mean", ["val"])


@pytest.mark.parametrize("args, message", [
    (["--constraint", "latency_ms=<33"], "bad constraint"),
    (["--objectives", "psnr,speed"], "unknown objective"),
    (["--objectives", "psnr,psnr@val"], "repeated objective"),
    (["--resolution", "12x"], "resolution"),
    (["--space", "no/such.yaml"], "no/such.yaml"),
])
def test_cli_one_line_errors(cli, tmp_path, args, message):
    status, out, err = cli("search", "--storage", f"sqlite:///{tmp_path}/db.sqlite", *args)
    assert status == 2 and message in err and err.count("\n") == 1


@pytest.mark.parametrize("args", [["--trials", "0"], ["--sampler", "annealing"], ["--workers", "x"]])
def test_cli_bad_arguments_exit_2(cli, capsys, args):
    with pytest.raises(SystemExit) as info:
        cli("search", *args)
    assert info.value.code == 2


def test_unknown_study_lists_existing(cli, data, tmp_path, ray_cluster):
    import optuna

    optuna.create_study(storage=f"sqlite:///{tmp_path}/db.sqlite", study_name="exists")
    for command in ("pareto", "trials"):
        status, _, err = cli(command, "--study", "nope", "--storage", f"sqlite:///{tmp_path}/db.sqlite")
        assert status == 2 and "no study 'nope'" in err and "existing: exists" in err and err.count("\n") == 1


def test_constraints_relative_to_a_reference_model():
    c = parse_constraint("psnr@val >= rlfn - 0.25", ["val"])
    assert (c.reference, c.bound, c.text) == ("rlfn", -0.25, "psnr@val>=rlfn-0.25")
    with pytest.raises(ValueError, match="not resolved"):
        c.violation({"psnr_val": 30.0})
    fixed = c.resolved({"rlfn": {"psnr_val": 30.5, "params": 10}})
    assert fixed.text == "psnr@val>=30.25" and fixed.violation({"psnr_val": 30.0}) == 0.25
    assert parse_constraint("params<=vapsr-s", []).resolved({"vapsr-s": {"params": 10}}).bound == 10
    with pytest.raises(ValueError, match=r"names reference 'span', which is not given \(--reference span=WEIGHTS\)"):
        c.__class__(c.objective, ">=", 0.0, "span").resolved({})


@pytest.mark.parametrize("args, message", [
    (["--constraint", "psnr@val>=rlfn"], "names reference 'rlfn': add --reference rlfn=WEIGHTS"),
    (["--reference", "rlfn"], "bad reference 'rlfn': expected NAME=WEIGHTS"),
])
def test_cli_reference_errors(cli, tmp_path, args, message):
    status, out, err = cli("search", "--storage", f"sqlite:///{tmp_path}/db.sqlite", *args)
    assert status == 2 and message in err and err.count("\n") == 1
