"""Proposals computed while trials run, not between them.

With many workers a trial finishes every fraction of a second, and a model-based proposal (the
cost-aware strategy's Gaussian process and EHVI: two thirds of the driver's CPU time per trial,
profiled with ``benchmarks/scale.py``) made each freed worker wait for it. Trials of one length
also finish in waves: 32 workers started together free up together, and 32 proposals made one
after the other kept the last worker idle for seconds. :class:`ProposalsAhead` wraps a strategy
and keeps up to ``depth`` proposals ready: a copy of the strategy in a Ray actor (its own process,
beside the driver on the driver's node, no logical CPU taken from trials, reading the study from
the same storage) computes them in small chunks while trials run, each counting the ones before
it as running (the strategy's pending trials: the cost-aware model fantasises their outcomes, so
the chunk spreads as concurrent proposals do). :meth:`~ProposalsAhead.propose` hands over the
oldest ready one and asks for more. A thread would not do: the driver's database calls and the
model's Python would take turns on one interpreter lock (measured: every storage call 2-3x slower).

A proposal so made has not seen the results that arrived while it waited (with K trials running,
a proposal never sees the K - 1 others; this adds the few that finish meanwhile). One whose
configuration became known meanwhile is thrown away; when none is ready the driver waits for the
chunk being computed, and computes the proposal itself when the actor cannot run (no Ray, an actor
that died). The driver proposes ahead from :data:`MIN_WORKERS` workers; a sequential search
proposes with every result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from nas_sr.search.strategy import Proposal, SpaceExhausted, Strategy

if TYPE_CHECKING:
    import optuna

    from nas_sr.space import SearchSpace

#: Fewest workers at which the driver proposes ahead (below it, waiting for the latest result
#: costs little time and matters more to the choice).
MIN_WORKERS = 4
#: Actor failures after which every proposal is computed in the driver.
MAX_ACTOR_FAILURES = 3
#: Proposals the actor computes per call: small, so that a freed worker waiting for the chunk
#: being computed waits for a few proposals, not for the whole buffer.
CHUNK = 8


class Proposer:
    """The actor's body: a copy of the strategy, its search space and the study read from its storage."""

    def __init__(self, strategy: Strategy, space: "SearchSpace", storage: str, study: str) -> None:
        import optuna

        from nas_sr.study.storage import open_storage

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.strategy, self.space = strategy, space
        self.study = optuna.load_study(study_name=study, storage=open_storage(storage))

    def propose(self, known: dict[str, int], count: int = 1) -> list[tuple[str, Any]]:
        """Up to ``count`` proposals, each with the ones before it counted as running."""
        out: list[tuple[str, Any]] = []
        known = dict(known)
        for _ in range(count):
            try:
                proposal = self.strategy.propose(self.study, known)
            except SpaceExhausted as exc:
                out.append(("exhausted", str(exc)))
                break
            out.append(("proposal", proposal))
            key = _key_of(self.space, proposal)
            if proposal is None or key is None:
                break
            known[key] = -1
        return out


def _key_of(space: "SearchSpace", proposal: Proposal | None) -> str | None:
    """The configuration key of a proposal (None: parameters left to the sampler)."""
    if proposal is None:
        return None
    from optuna.trial import FixedTrial

    from nas_sr.models.registry import config_key

    try:
        return config_key(space.suggest(FixedTrial(proposal.params)))
    except ValueError:  # parameters left to the sampler: no key before the trial is asked
        return None


class ProposalsAhead(Strategy):
    """``strategy``'s proposals, up to ``depth`` computed in a Ray actor ahead of their request."""

    def __init__(self, strategy: Strategy, space: "SearchSpace", storage: str, study: str, depth: int = 1) -> None:
        super().__init__(strategy.seed)
        self.strategy, self.space, self.name = strategy, space, strategy.name
        self.depth = max(1, depth)
        self._where = (storage, study)
        self._actor: Any = None
        self._pending: Any = None
        #: Proposals computed ahead, each with its configuration's key (computed once, on arrival).
        self._ready: list[tuple[Proposal, str | None]] = []
        self._failures = 0
        #: Proposals computed ahead and used, and thrown away (their configuration became known).
        self.used = self.discarded = 0

    def sampler(self) -> "optuna.samplers.BaseSampler":
        return self.strategy.sampler()

    def propose(self, study: "optuna.Study", known: Mapping[str, int]) -> Proposal | None:
        """The oldest proposal computed ahead that is still new (waiting for the chunk being
        computed when none is ready), else one computed now; then more are asked for."""
        self._collect(wait=False)
        taken = self._take(known)
        if taken is None and self._pending is not None:
            self._collect(wait=True)
            taken = self._take(known)
        if taken is not None:
            self.used += 1
            proposal, key = taken
        else:
            proposal = self.strategy.propose(study, known)  # raises SpaceExhausted when nothing is left
            key = self._key(proposal)
        if proposal is not None:  # the sampler chooses otherwise: nothing to compute ahead
            self._start(known, key)
        return proposal

    def top_up(self, known: Callable[[], Mapping[str, int]]) -> None:
        """Between results (the driver calls it while it waits for one): a finished chunk joins the
        ready proposals and the next chunk starts, so that the buffer is full when a wave of
        trials ends, not only refilled as their proposals are taken. ``known`` is called only
        when a chunk starts."""
        self._collect(wait=False)
        if self._actor is not None and self._pending is None and len(self._ready) < self.depth:
            self._start(known())

    def close(self) -> None:
        """Stop the actor (proposals being computed are dropped)."""
        if self._actor is not None:
            import ray

            try:
                ray.kill(self._actor)
            except Exception:  # noqa: BLE001 - already gone with its cluster
                pass
        self._actor = self._pending = None
        self._ready = []

    def _take(self, known: Mapping[str, int]) -> tuple[Proposal, str | None] | None:
        """The oldest ready proposal still new, with its key (the stale ones before it discarded)."""
        while self._ready:
            proposal, key = self._ready.pop(0)
            if key is not None and key not in known:
                return proposal, key
            self.discarded += 1
        return None

    # -- the actor --------------------------------------------------------------------------------
    def _start(self, known: Mapping[str, int], handed: str | None = None) -> None:
        """Ask the actor for the next chunk (unless one is being computed or the buffer is full),
        with the configuration just handed over (its key) and the ready ones counted as running."""
        if self._pending is not None or len(self._ready) >= self.depth:
            return
        actor = self._ensure_actor()
        if actor is None:
            return
        ahead = dict(known)
        for key in [handed, *(k for _, k in self._ready)]:
            if key is not None:
                ahead[key] = -1
        self._pending = actor.propose.remote(ahead, min(CHUNK, self.depth - len(self._ready)))

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
            scheduling_strategy=here, name=None).remote(self.strategy, self.space, *self._where)
        return self._actor

    def _collect(self, wait: bool) -> None:
        """Move the finished chunk (``wait``: once it is finished) into the ready proposals."""
        if self._pending is None:
            return
        import ray

        if not wait and not ray.wait([self._pending], timeout=0)[0]:
            return
        ref, self._pending = self._pending, None
        try:
            results = ray.get(ref)
        except Exception:  # noqa: BLE001 - the actor died or failed: propose in the driver
            self._failures += 1
            self._actor = None if self._failures >= MAX_ACTOR_FAILURES else self._actor
            return
        # Exhausted ahead: asked again in the driver with what is known then.
        self._ready += [(value, self._key(value)) for kind, value in results if kind == "proposal" and value is not None]

    def _key(self, proposal: Proposal | None) -> str | None:
        return _key_of(self.space, proposal)

