"""Faults during a search: a trial that raises, one that returns NaN, Ctrl-C; a hung trial and a
full disk (the driver's watchdog, ``SearchOptions.trial_timeout``, and its
artifact handling). After each, every trial is accounted for:
none left RUNNING, no COMPLETE result lost, each failure recorded with its reason.

Ctrl-C of the ``nas-sr search`` process itself is ``tests/test_search.py::test_ctrl_c_fails_running_trials``
(every trial still training is FAIL "interrupted"); here Ctrl-C arrives after some trials are done.
"""

from __future__ import annotations

import time

import pytest

SPACE = {"name": "faults", "scales": [2], "color": "y",
         "branches": [{"family": "esr-max", "params": {"kernel_size": [3, 5], "channels": [1, 2, 3, 4]}}]}


def fake_trial(sleep: float = 0.05, raise_for: int | None = None, nan_for: int | None = None,
               hang_for: int | None = None, hang: float = 0.0, worker_raise_for: int | None = None):
    """A fast stand-in trainable (a closure, shipped to Ray by value) with one kind of fault,
    chosen by the config's ``channels``."""

    def trial(config, settings, data):
        import io
        import time

        import torch

        channels = int(config["channels"])
        if channels == raise_for:
            raise RuntimeError(f"trainer exploded on {channels} channels")
        if channels == worker_raise_for:  # the real worker, its trainer raising
            import nas_sr.search.worker as worker

            real = worker.trainer

            def exploding():
                train, settings_type, failed = real()

                def train_boom(*args, **kwargs):
                    raise MemoryError("cannot allocate 64 GiB")

                return train_boom, settings_type, failed

            worker.trainer = exploding
            try:
                return worker.run_trial(config, {**settings, "latency": False, "resolution": [32, 32]}, data)
            finally:
                worker.trainer = real
        if channels == hang_for:
            time.sleep(hang)
        time.sleep(sleep)
        params = int(config["kernel_size"]) ** 2 * channels
        buffer = io.BytesIO()
        torch.save({}, buffer)
        psnr = float("nan") if channels == nan_for else 30.0 + params / 100
        return {"state": "complete", "cost": {"params": params, "flops": params * 4, "resolution": [64, 64]},
                "metrics": {"psnr_val": psnr, "ssim_val": 0.9}, "steps": 1, "seconds": sleep,
                "curve": [], "final_loss": 0.0, "weights": buffer.getvalue()}

    return trial


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def options(tmp_path, **kw):
    from nas_sr.search.driver import SearchOptions
    from nas_sr.space import SearchSpace

    base = dict(space=SearchSpace.from_dict(SPACE), train_images=[], val_sets={"val": []}, study="f",
                storage=f"sqlite:///{tmp_path}/db.sqlite", trials=4, workers=2, sampler="grid", progress=False,
                objectives="psnr,params", settings={"latency": False}, trial_fn=fake_trial())
    return SearchOptions(**{**base, **kw})


def account(study, tally, complete_expected: int) -> dict[str, list]:
    """Trials by state; counts trials checked, and lost ones: RUNNING, or COMPLETE results missing."""
    by_state: dict[str, list] = {}
    for t in study.get_trials(deepcopy=False):
        by_state.setdefault(t.state.name, []).append(t)
    lost = len(by_state.get("RUNNING", [])) + max(0, complete_expected - len(by_state.get("COMPLETE", [])))
    tally("trials_checked", len(study.trials))
    tally("trials_lost", lost)
    assert lost == 0, {k: len(v) for k, v in by_state.items()}
    return by_state


@pytest.mark.parametrize("fault, reason", [
    (dict(raise_for=2), "error: RuntimeError: trainer exploded on 2 channels"),
    (dict(worker_raise_for=2), "error: MemoryError: cannot allocate 64 GiB"),
    (dict(nan_for=2), "objective psnr@val is not finite"),
])
def test_failing_trials_fail_alone(ray_cluster, tmp_path, tally, fault, reason) -> None:
    """The two configurations with 2 channels fail, with the reason; the search still ends with
    the other 6 COMPLETE, each with its values and weights."""
    from nas_sr.search.driver import run_search

    outcome = run_search(options(tmp_path, trials=6, trial_fn=fake_trial(**fault)))
    states = account(outcome.study, tally, 6)
    assert outcome.complete == 6 and outcome.failed == 2 == len(states["FAIL"])
    for t in states["FAIL"]:
        assert '"channels":2' in t.user_attrs["config"] and reason in t.user_attrs["fail_reason"]
        assert "\n" not in t.user_attrs["fail_reason"]
    for t in states["COMPLETE"]:
        assert len(t.values) == 2 and t.user_attrs["weights_artifact"]
        kernel, channels = (json_config := __import__("json").loads(t.user_attrs["config"]))["kernel_size"], json_config["channels"]
        assert t.values[1] == t.user_attrs["params"] == kernel**2 * channels


def test_ctrl_c_after_some_results_keeps_them(ray_cluster, tmp_path, monkeypatch, tally) -> None:
    """Ctrl-C while the driver waits, after 3 results: those 3 stay COMPLETE (values, weights),
    the trials in flight are FAIL "interrupted", none is RUNNING."""
    from nas_sr.search import driver

    real_wait, seen = driver._Runner.wait_one, []

    def wait_then_interrupt(self, refs, poll):
        if len(seen) == 3:
            raise KeyboardInterrupt
        ref, result = real_wait(self, refs, poll)
        seen.append(result.get("state"))
        return ref, result

    monkeypatch.setattr(driver._Runner, "wait_one", wait_then_interrupt)
    opts = options(tmp_path, trials=8, trial_fn=fake_trial(sleep=0.3))
    with pytest.raises(KeyboardInterrupt):
        driver.run_search(opts)
    import optuna

    study = optuna.load_study(study_name="f", storage=opts.storage)
    states = account(study, tally, complete_expected=seen.count("complete"))
    assert seen == ["complete"] * 3 and len(states["COMPLETE"]) == 3
    assert states["FAIL"] and all(t.user_attrs["fail_reason"] == "interrupted" for t in states["FAIL"])
    assert all(t.user_attrs.get("weights_artifact") for t in states["COMPLETE"])


def test_hung_trial_is_killed_and_fails(ray_cluster, tmp_path, tally) -> None:
    """A trial still running past its limit (here 3 s; it would sleep 60 s) is killed and FAIL with
    a reason starting "timeout"; the others complete; the search ends long before the hang would."""
    from nas_sr.search.driver import run_search

    start = time.monotonic()
    outcome = run_search(options(tmp_path, trials=3, trial_fn=fake_trial(hang_for=2, hang=60.0),
                                 trial_timeout=3.0, space=options(tmp_path).space.__class__.from_dict(
                                     {**SPACE, "branches": [{"family": "esr-max",
                                                             "params": {"kernel_size": [3], "channels": [1, 2, 3, 4]}}]})))
    elapsed = time.monotonic() - start
    states = account(outcome.study, tally, 3)
    assert elapsed < 40, f"the search waited for the hung trial ({elapsed:.0f} s)"
    hung, = states["FAIL"]
    assert '"channels":2' in hung.user_attrs["config"] and hung.user_attrs["fail_reason"].startswith("timeout")


def test_disk_full_while_saving_weights_fails_that_trial_only(ray_cluster, tmp_path, monkeypatch, tally) -> None:
    """The first weights upload meets ENOSPC: that trial is FAIL naming the error, the search goes
    on to its 4 COMPLETE trials, each with weights."""
    import errno

    from optuna.artifacts import FileSystemArtifactStore

    from nas_sr.search.driver import run_search

    real, calls = FileSystemArtifactStore.write, []

    def write(self, artifact_id, content_body):
        calls.append(artifact_id)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, artifact_id, content_body)

    monkeypatch.setattr(FileSystemArtifactStore, "write", write)
    outcome = run_search(options(tmp_path))
    states = account(outcome.study, tally, 4)
    full, = states["FAIL"]
    assert "No space left on device" in full.user_attrs["fail_reason"]
    assert all(t.user_attrs.get("weights_artifact") for t in states["COMPLETE"])
