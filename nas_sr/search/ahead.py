"""Proposals computed while trials run, not between them.

With many workers a trial finishes every fraction of a second, and a model-based proposal (the
cost-aware strategy's Gaussian process and EHVI: two thirds of the driver's CPU time per trial,
profiled with ``benchmarks/scale.py``) made each freed worker wait for it. :class:`ProposalsAhead`
wraps a strategy: each :meth:`~ProposalsAhead.propose` hands over the proposal computed since the
previous one by a copy of the strategy in a Ray actor (its own process, beside the driver on the
driver's node, no logical CPU taken from trials, reading the study from the same storage), and
asks it at once for the next, with the configuration just handed over counted as running. A
thread would not do: the driver's database calls and the model's Python would take turns on one
interpreter lock (measured: every storage call 2-3x slower).

A proposal so made has not seen the results that arrived while it was computed (with K trials
running, a proposal never sees the K - 1 others; this adds the few that finish during one
proposal). One whose configuration became known meanwhile is thrown away and computed again in
the driver, as is every proposal when the actor cannot run (no Ray, an actor that died). The
driver proposes ahead from :data:`MIN_WORKERS` workers; a sequential search proposes with every
result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from nas_sr.search.strategy import Proposal, SpaceExhausted, Strategy

if TYPE_CHECKING:
    import optuna

    from nas_sr.space import SearchSpace

#: Fewest workers at which the driver proposes ahead (below it, waiting for the latest result
#: costs little time and matters more to the choice).
MIN_WORKERS = 4
#: Actor failures after which every proposal is computed in the driver.
MAX_ACTOR_FAILURES = 3


class Proposer:
    """The actor's body: a copy of the strategy and the study read from its storage."""

    def __init__(self, strategy: Strategy, storage: str, study: str) -> None:
        import optuna

        from nas_sr.study.storage import open_storage

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.strategy = strategy
        self.study = optuna.load_study(study_name=study, storage=open_storage(storage))

    def propose(self, known: dict[str, int]) -> tuple[str, Any]:
        try:
            return "proposal", self.strategy.propose(self.study, known)
        except SpaceExhausted as exc:
            return "exhausted", str(exc)


class ProposalsAhead(Strategy):
    """``strategy``'s proposals, each computed in a Ray actor ahead of its request."""

    def __init__(self, strategy: Strategy, space: "SearchSpace", storage: str, study: str) -> None:
        super().__init__(strategy.seed)
        self.strategy, self.space, self.name = strategy, space, strategy.name
        self._where = (storage, study)
        self._actor: Any = None
        self._pending: Any = None
        self._failures = 0
        #: Proposals computed ahead and used, and thrown away (their configuration became known).
        self.used = self.discarded = 0

    def sampler(self) -> "optuna.samplers.BaseSampler":
        return self.strategy.sampler()

    def propose(self, study: "optuna.Study", known: Mapping[str, int]) -> Proposal | None:
        """The proposal computed ahead (if still new), else one computed now; then the next starts."""
        proposal = self._collect()
        key = self._key(proposal)
        if proposal is not None and key is not None and key not in known:
            self.used += 1
        else:
            if proposal is not None:
                self.discarded += 1
            proposal = self.strategy.propose(study, known)  # raises SpaceExhausted when nothing is left
            key = self._key(proposal)
        if proposal is not None:  # the sampler chooses otherwise: nothing to compute ahead
            ahead = dict(known)
            if key is not None:
                ahead[key] = -1  # handed over: running from the next proposal's point of view
            self._start(ahead)
        return proposal

    def close(self) -> None:
        """Stop the actor (a proposal being computed is dropped)."""
        if self._actor is not None:
            import ray

            try:
                ray.kill(self._actor)
            except Exception:  # noqa: BLE001 - already gone with its cluster
                pass
        self._actor = self._pending = None

    # -- the actor --------------------------------------------------------------------------------
    def _start(self, known: dict[str, int]) -> None:
        actor = self._ensure_actor()
        if actor is not None:
            self._pending = actor.propose.remote(known)

    def _ensure_actor(self) -> Any:
        if self._actor is not None or self._failures >= MAX_ACTOR_FAILURES:
            return self._actor
        import ray

        if not ray.is_initialized():
            self._failures = MAX_ACTOR_FAILURES  # runs without Ray (tests' runners): propose here
            return None
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # On the driver's node: the storage (a SQLite file, a journal) is reachable from there.
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
        self._actor = ray.remote(num_cpus=0, max_restarts=0)(Proposer).options(
            scheduling_strategy=here, name=None).remote(self.strategy, *self._where)
        return self._actor

    def _collect(self) -> Proposal | None:
        if self._pending is None:
            return None
        import ray

        ref, self._pending = self._pending, None
        try:
            kind, value = ray.get(ref)
        except Exception:  # noqa: BLE001 - the actor died or failed: propose in the driver
            self._failures += 1
            self._actor = None if self._failures >= MAX_ACTOR_FAILURES else self._actor
            return None
        return value if kind == "proposal" else None  # exhausted ahead: asked again with what is known

    def _key(self, proposal: Proposal | None) -> str | None:
        if proposal is None:
            return None
        from optuna.trial import FixedTrial

        from nas_sr.models.registry import config_key

        try:
            return config_key(self.space.suggest(FixedTrial(proposal.params)))
        except ValueError:  # parameters left to the sampler: no key before the trial is asked
            return None
