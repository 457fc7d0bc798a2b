"""The engine's scale fixes (issue 19), by behaviour: batched attribute writes, proposals computed
while trials run, trials read once. Their speed is measured by benchmarks/scale.py, not here."""

from __future__ import annotations

import pytest


def _study(tmp_path, name="s"):
    import optuna

    from nas_sr.study.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path}/s.db"), study_name=name)


def test_batched_attrs_read_back_as_written(tmp_path):
    """Held attribute writes are visible to every read, in this process and another connection."""
    import optuna

    study = _study(tmp_path)
    trial = study.ask()
    for i in range(5):
        trial.set_user_attr(f"k{i}", {"v": i})
    trial.set_user_attr("k0", "again")  # an overwrite: the last value wins
    study._storage.set_trial_system_attr(trial._trial_id, "sys", [1, 2])
    assert study.get_trials(deepcopy=False)[0].user_attrs == {"k0": "again", "k1": {"v": 1}, "k2": {"v": 2},
                                                              "k3": {"v": 3}, "k4": {"v": 4}}
    trial.set_user_attr("k1", 1.5)  # after a flush: an update of a stored key
    study.tell(trial, 1.0)
    fresh = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/s.db")
    (done,) = fresh.trials
    assert done.state.name == "COMPLETE" and done.value == 1.0
    assert done.user_attrs["k0"] == "again" and done.user_attrs["k1"] == 1.5
    assert done.system_attrs["sys"] == [1, 2]


def test_batched_attrs_of_a_finished_trial_fail(tmp_path):
    """A write to a finished trial raises at the call, as Optuna's own; one finished meanwhile by
    another process raises at the next storage call; the other writes are kept."""
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError

    study = _study(tmp_path)
    first, second, third = study.ask(), study.ask(), study.ask()
    study.tell(first, 1.0)
    with pytest.raises(UpdateFinishedTrialError):
        study._storage.set_trial_user_attr(first._trial_id, "late", 1)
    with pytest.raises(UpdateFinishedTrialError):
        first.set_user_attr("late", 1)
    second.set_user_attr("kept", 2)
    third.set_user_attr("early", 1)  # held; then the trial is finished elsewhere
    third.set_user_attr("twice", 1)
    optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/s.db").tell(third.number, 3.0)
    third.set_user_attr("late", 2)  # seen RUNNING before: held without a read
    with pytest.raises(UpdateFinishedTrialError):
        study.get_trials(deepcopy=False)
    trials = study.get_trials(deepcopy=False)  # the bad writes are dropped: reads work again
    assert "late" not in trials[0].user_attrs and trials[1].user_attrs == {"kept": 2}
    assert trials[2].user_attrs == {}


def test_batched_attrs_one_transaction_per_trial(tmp_path):
    """A trial's attributes reach the database in one commit, not one each."""
    import sqlalchemy as sa

    study = _study(tmp_path)
    trial = study.ask()
    commits = []
    engine = study._storage._inner._engine  # RetryingStorage(BatchedAttrStorage)
    sa.event.listen(engine, "commit", lambda conn: commits.append(1))
    for i in range(20):
        trial.set_user_attr(f"k{i}", i)
    assert commits == []
    study.tell(trial, 0.0)
    assert len(study.trials[0].user_attrs) == 20
    assert len(commits) < 10  # one for the attributes, the rest tell's own (unbatched: 20 more)


def test_sql_paths_see_batched_attrs(tmp_path):
    """The study layer's SQL readers and writers (read_trial_rows, write_finished_attrs) see
    attribute writes still held back by the batching storage."""
    from nas_sr.study import read_trial_rows, write_finished_attrs

    study = _study(tmp_path)
    trial = study.ask()
    trial.set_user_attr("psnr_val", 31.5)
    (row,) = read_trial_rows(study)
    assert row.user_attrs == {"psnr_val": 31.5}
    trial.set_user_attr("late", 1)
    study.tell(trial, 1.0)
    assert write_finished_attrs(study, {0: {"note": "x"}}) == 1
    assert study.trials[0].user_attrs == {"psnr_val": 31.5, "late": 1, "note": "x"}


SPACE = {"name": "t", "scales": [2, 3], "branches": [
    {"family": "espcn", "params": {"width1": [0, 1, 2], "width2": [3, 9]}},
    {"family": "esr-max", "params": {"kernel_size": [3, 5], "channels": {"low": 1, "high": 4}}}]}


class _Fixed:
    """A strategy proposing given parameters in turn."""

    name = "fixed"

    def __init__(self, proposals):
        self.proposals, self.seed, self.calls = list(proposals), 0, []

    def propose(self, study, known):
        from nas_sr.search.strategy import Proposal

        self.calls.append(dict(known))
        return Proposal(self.proposals.pop(0), {"proposal": "test"}) if self.proposals else None


def test_next_trial_starts_a_proposed_trial_in_one_step(tmp_path):
    """A proposal with every parameter: the trial is RUNNING with those parameters, the space's
    distributions and the proposal's attributes, as enqueue_trial + ask would give."""
    from nas_sr.search.strategy import next_trial
    from nas_sr.space import SearchSpace

    space = SearchSpace.from_dict(SPACE)
    study = _study(tmp_path)
    params = {"branch": "esr-max", "scale": 3, "esr-max.kernel_size": 5, "esr-max.channels": 2}
    step = next_trial(study, space, _Fixed([params]), {})
    assert [step.config[k] for k in ("family", "scale", "kernel_size", "channels")] == ["esr-max", 3, 5, 2]
    (stored,) = study.get_trials(deepcopy=False)
    assert stored.state.name == "RUNNING" and stored.params == params and stored.user_attrs == {"proposal": "test"}
    assert stored.distributions["esr-max.channels"].high == 4 and step.trial.number == 0
    study.tell(step.trial, 1.0)
    # The sampler's own choice when the strategy proposes nothing, and a partial proposal: asked.
    assert next_trial(study, space, _Fixed([]), {}).trial.number == 1
    partial = next_trial(study, space, _Fixed([{"branch": "espcn"}]), {})
    assert partial.config["family"] == "espcn" and len(partial.trial.params) == 4


def test_proposals_ahead_without_ray_propose_in_the_driver(tmp_path):
    """Without Ray (a test's runner) every proposal is the strategy's own, with what is known now;
    one whose configuration is known is never handed over."""
    from nas_sr.search.ahead import ProposalsAhead
    from nas_sr.space import SearchSpace

    space = SearchSpace.from_dict(SPACE)
    a = {"branch": "espcn", "scale": 2, "espcn.width1": 0, "espcn.width2": 3}
    b = {"branch": "espcn", "scale": 2, "espcn.width1": 1, "espcn.width2": 3}
    inner = _Fixed([a, b])
    ahead = ProposalsAhead(inner, space, f"sqlite:///{tmp_path}/s.db", "s")
    study = _study(tmp_path)
    assert ahead.propose(study, {}).params == a
    assert ahead.propose(study, {"x": 1}).params == b
    assert inner.calls == [{}, {"x": 1}] and ahead.used == 0
    ahead.close()


def test_a_chunk_of_proposals_counts_the_ones_before_as_running(tmp_path):
    """The actor's chunk: each proposal is made with the configurations of the earlier ones of the
    chunk known (as running), so a chunk never proposes one configuration twice."""
    from nas_sr.search.ahead import Proposer
    from nas_sr.space import SearchSpace

    space = SearchSpace.from_dict(SPACE)
    a = {"branch": "espcn", "scale": 2, "espcn.width1": 0, "espcn.width2": 3}
    b = {"branch": "espcn", "scale": 2, "espcn.width1": 1, "espcn.width2": 3}
    _study(tmp_path)
    inner = _Fixed([a, b])
    proposer = Proposer(inner, space, f"sqlite:///{tmp_path}/s.db", "s")
    out = proposer.propose({"x": 1}, count=3)
    # Two proposals, then the strategy has none left (None ends the chunk).
    assert [kind for kind, _ in out] == ["proposal", "proposal", "proposal"]
    assert [p.params for _, p in out[:2]] == [a, b] and out[2][1] is None
    first_key = next(k for k in inner.calls[1] if k != "x")
    assert inner.calls[0] == {"x": 1} and inner.calls[1] == {"x": 1, first_key: -1}
    assert '"width1":0' in first_key.replace(" ", "")


def test_proposals_ahead_hands_over_ready_proposals_oldest_first_and_skips_known_ones(tmp_path):
    """Ready proposals are handed over oldest first; one whose configuration became known
    meanwhile is thrown away (counted), and with none left the strategy proposes in the driver."""
    from nas_sr.search.ahead import ProposalsAhead
    from nas_sr.search.strategy import Proposal
    from nas_sr.space import SearchSpace

    space = SearchSpace.from_dict(SPACE)
    a = {"branch": "espcn", "scale": 2, "espcn.width1": 0, "espcn.width2": 3}
    b = {"branch": "espcn", "scale": 2, "espcn.width1": 1, "espcn.width2": 3}
    c = {"branch": "espcn", "scale": 2, "espcn.width1": 2, "espcn.width2": 3}
    inner = _Fixed([c])
    ahead = ProposalsAhead(inner, space, f"sqlite:///{tmp_path}/s.db", "s", depth=4)
    ahead._ready = [(Proposal(p), ahead._key(Proposal(p))) for p in (a, b)]
    study = _study(tmp_path)
    key_a = ahead._key(Proposal(a))
    assert ahead.propose(study, {key_a: 0}).params == b  # a became known: skipped
    assert (ahead.used, ahead.discarded) == (1, 1)
    assert ahead.propose(study, {}).params == c and inner.calls == [{}]  # none ready: the driver's own
    ahead.close()


@pytest.mark.slow
def test_search_with_proposals_ahead_completes_every_trial_once(tmp_path):
    """A cost-aware search at 4 workers (proposals from the Ray actor): every trial COMPLETE once,
    none RUNNING, proposals recorded with their reasons."""
    import ray
    from optuna.trial import TrialState

    from nas_sr.search.driver import SearchOptions, run_search
    from nas_sr.space import SearchSpace

    def fake(config, settings, data):
        import time

        time.sleep(0.3)
        params = 100.0 * (1 + sum(v for v in config.values() if isinstance(v, int)))
        return {"state": "complete", "cost": {"params": params, "flops": params * 4, "resolution": [64, 64]},
                "metrics": {"psnr_val": 30.0 + params / 1000}, "steps": 1, "seconds": 0.3, "curve": [],
                "final_loss": 0.0, "weights": b""}

    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        opts = SearchOptions(space=SearchSpace.from_dict(SPACE), train_images=[], val_sets={"val": []},
                             study="ahead", storage=f"sqlite:///{tmp_path}/a.db", trials=16, workers=4,
                             objectives="psnr,params", settings={"latency": False,
                                                                 "cost_cache": str(tmp_path / "c.json")},
                             progress=False, trial_fn=fake)
        outcome = run_search(opts)
    finally:
        ray.shutdown()
    trials = outcome.study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    keys = [t.user_attrs["config"] for t in complete]
    assert outcome.complete == len(complete) == 16 and len(set(keys)) == 16
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert {t.user_attrs.get("proposal") for t in complete} >= {"initial design", "expected HV improvement"}
