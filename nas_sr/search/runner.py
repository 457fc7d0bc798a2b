"""How the driver runs trials: one Ray task per trial (resources declared on the task, a timeout per
trial, lost workers and nodes turned into failed results), and Ctrl-C held to the driver's safe points."""

from __future__ import annotations

import math
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping

from nas_sr.search.spec import TrialResult, TrialSpec

if TYPE_CHECKING:
    from nas_sr.search.options import SearchOptions


class SafePointInterrupts:
    """Ctrl-C and SIGTERM stop the search at the next safe point (within a second), never inside a
    step that writes the study: a trial asked but not yet tracked would otherwise outlive the driver
    RUNNING. A second signal stops at once."""

    def __init__(self) -> None:
        import signal
        import threading

        self._pending = False
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._hold) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _hold(self, signum: int, frame: Any) -> None:
        if self._pending:
            raise KeyboardInterrupt
        self._pending = True

    def check(self) -> None:
        """Raise :class:`KeyboardInterrupt` if a signal came since the last safe point."""
        if self._pending:
            raise KeyboardInterrupt

    def restore(self) -> None:
        import signal

        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


def traced(fn: Callable[..., Mapping[str, Any]], spec: TrialSpec, data: Any) -> TrialResult:
    """The Ray task body: ``fn(config, settings, data)``'s result, typed, with the provenance of
    where it ran (``node``)."""
    import socket

    node: dict[str, Any] = {"worker_pid": os.getpid(), "hostname": socket.gethostname()}
    try:
        import ray

        context = ray.get_runtime_context()
        node["ray_node_id"] = context.get_node_id()
        node["ray_node_ip"] = ray.util.get_node_ip_address()
        gpus = context.get_accelerator_ids().get("GPU") or []
        if gpus:
            node["ray_gpu_ids"] = ",".join(map(str, gpus))
    except Exception:  # noqa: BLE001 - not in a Ray worker (tests calling it directly)
        pass
    node["train_device"] = train_device(spec.settings.device)
    result = TrialResult.from_dict(fn(spec.config, spec.settings, data))
    result.node = node
    return result


def train_device(device: str) -> str:
    """``cpu|<processor>`` or ``cuda:N|<GPU name>``: the device a trial trained on."""
    import platform

    if device.startswith("cuda"):
        try:
            import torch

            index = torch.device(device).index or 0
            return f"{device}|{torch.cuda.get_device_name(index)}"
        except Exception:  # noqa: BLE001 - no CUDA here: the trial fails in training, saying why
            return f"{device}|unavailable"
    return f"{device}|{platform.processor() or platform.machine()}"


def lost_result(exc: BaseException) -> TrialResult:
    """A failed result for a task whose worker or node died; ``lost`` makes it eligible for a retry."""
    import ray.exceptions as rex

    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 200:  # Ray's messages run on: keep whole sentences (node IP and id included)
        cut = first.rfind(". ", 0, 200)
        first = first[:cut + 1] if cut > 40 else first[:200]
    detail = f"{type(exc).__name__}: {first}"
    if isinstance(exc, rex.RayTaskError) and not isinstance(exc, rex.WorkerCrashedError):
        # The trial raised, not a lost worker: its own exception, not Ray's wrapper (coloured task name).
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            lines = str(cause).strip().splitlines()
            detail = f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__
        return TrialResult("fail", f"error: {detail}"[:300])
    if isinstance(exc, getattr(rex, "NodeDiedError", ())) or "node" in detail.lower() and "died" in detail.lower():
        reason = f"node lost: {detail}"
    elif isinstance(exc, (rex.WorkerCrashedError, getattr(rex, "OutOfMemoryError", rex.WorkerCrashedError),
                          getattr(rex, "ActorDiedError", rex.WorkerCrashedError))):
        reason = f"worker died: {detail}"
    elif isinstance(exc, rex.TaskCancelledError):
        return TrialResult("fail", f"cancelled: {detail}"[:300])
    else:
        reason = f"ray task died: {detail}"
    return TrialResult("fail", reason[:300], lost=True)


def check_resources(total: Mapping[str, float], opts: SearchOptions) -> None:
    """A clear error, not an endless wait, when no node could ever run one trial."""
    for name, need in (("CPU", opts.cpus_per_trial), ("GPU", opts.gpus_per_trial)):
        if need > 0 and total.get(name, 0.0) < need:
            raise ValueError(f"the Ray cluster has {total.get(name, 0.0):g} {name}(s) in all; a trial asks for "
                             f"{need:g} (--{name.lower()}s-per-trial)")


class TrialRunner:
    """Ray tasks (or, with ``trial_fn`` and no Ray, calls in this process)."""

    def __init__(self, opts: SearchOptions, data: dict[str, Any], timeout: float | None = None) -> None:
        import logging

        import ray

        from nas_sr.search.worker import run_trial

        self._started = False
        self._timeout = timeout
        self._submitted: dict[Any, float] = {}
        # A local single-user cluster: its token notice is noise on every run.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        if not ray.is_initialized():
            kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                                          logging_level=logging.WARNING, configure_logging=True)
            if opts.ray_address:
                ray.init(address=opts.ray_address, **kwargs)
            else:
                cpus = max(1, math.ceil(opts.workers * opts.cpus_per_trial))
                # "local": a fresh instance even when `ray start` runs on this machine (which a
                # bare ray.init() would join, refusing num_cpus)
                ray.init(address="local", num_cpus=cpus,
                         num_gpus=math.ceil(opts.workers * opts.gpus_per_trial),
                         _temp_dir=opts.ray_temp_dir, **kwargs)
            self._started = True
        self._ray = ray
        check_resources(ray.cluster_resources(), opts)
        # Resources declared on the task: Ray runs each trial on a node that has them free.
        self._task = ray.remote(num_cpus=opts.cpus_per_trial, num_gpus=opts.gpus_per_trial,
                                max_retries=0)(traced)
        self._fn = opts.trial_fn or run_trial
        self._data = ray.put(data)

    def submit(self, spec: TrialSpec) -> Any:
        ref = self._task.remote(self._fn, spec, self._data)
        self._submitted[ref] = time.monotonic()
        return ref

    def wait_one(self, refs: list[Any], poll: Callable[[], None]) -> tuple[Any, TrialResult]:
        """The next finished task and its result; a task past the timeout is killed and fails.
        ``poll`` runs every second while waiting (it raises to stop the wait)."""
        ray = self._ray
        ready: list[Any] = []
        while not ready:
            poll()
            ready, _ = ray.wait(refs, num_returns=1, timeout=1.0)
            if not ready and self._timeout is not None:
                now = time.monotonic()
                late = next((r for r in refs if now - self._submitted.get(r, now) > self._timeout), None)
                if late is not None:
                    self.cancel(late)
                    self._submitted.pop(late, None)
                    return late, TrialResult("fail", f"timeout: the trial ran past its {self._timeout:g} s "
                                             "limit and was killed")
        ref = ready[0]
        self._submitted.pop(ref, None)
        try:
            return ref, ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - the task died (worker crash, OOM kill, node lost...)
            return ref, lost_result(exc)

    def cancel(self, ref: Any) -> None:
        try:
            self._ray.cancel(ref, force=True)
        except Exception:  # noqa: BLE001 - already finished
            pass

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
