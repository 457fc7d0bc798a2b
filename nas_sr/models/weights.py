"""Loading weight files into the project's networks, with errors that say what does not fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn


#: Entries that hold the state_dict in the checkpoints of common SR code bases, preferred first.
CHECKPOINT_KEYS = ("params_ema", "params", "state_dict", "model")


class WeightsError(ValueError):
    """A weights file that cannot be loaded into a network, with the file named."""


def read_state_dict(path: str | Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """Read a state_dict from ``path`` (tensors only; no pickled code is executed).

    ``key`` picks a nested state_dict. Without it, a checkpoint that nests its weights gives
    the first of :data:`CHECKPOINT_KEYS` it has: BasicSR's EMA weights before the raw ones,
    because the authors publish the EMA weights' scores.
    """
    path = Path(path)
    try:
        data: Any = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such weights file") from None
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise WeightsError(f"{path}: not a readable PyTorch weights file ({exc.__class__.__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if key is None and isinstance(data, Mapping) and not _is_flat(data):
        key = next((k for k in CHECKPOINT_KEYS if k in data), None)
    if key is not None:
        if not isinstance(data, Mapping) or key not in data:
            keys = _some(list(map(str, data))) if isinstance(data, Mapping) else type(data).__name__
            raise WeightsError(f"{path}: no {key!r} entry (has: {keys})")
        data = data[key]
    if not isinstance(data, Mapping) or not _is_flat(data):
        raise WeightsError(f"{path}: not a state_dict of tensors")
    return dict(data)


def _some(names: list[str], limit: int = 5) -> str:
    """The first ``limit`` names and how many there are in all.

    >>> _some(["a", "b"]), _some([str(i) for i in range(9)])
    ('a, b', '0, 1, 2, 3, 4 ... (9 in all)')
    """
    return ", ".join(names[:limit]) + (f" ... ({len(names)} in all)" if len(names) > limit else "")


def _is_flat(data: Mapping[Any, Any]) -> bool:
    return all(isinstance(v, torch.Tensor) for v in data.values())


def load_weights(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "weights") -> None:
    """Copy ``state`` into ``model``, converting dtypes; every name and shape must match.

    Deploy-form entries of a re-parameterisable module that ``model`` holds in its training form
    (a released or exported deploy-form file) are mapped onto that form first, with the same output
    (:func:`nas_sr.models.reparam.training_state`).
    """
    from nas_sr.models.reparam import training_state

    state = training_state(model, state)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected {_some(unexpected)}")
    if wrong:
        problems.append(f"shape mismatch {', '.join(wrong[:3])}{' ...' if len(wrong) > 3 else ''}")
    if problems:
        raise WeightsError(f"{source} do not fit the model: " + "; ".join(problems))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def load_checkpoint(model: nn.Module, config: Mapping[str, Any], path: str | Path,
                    key: str | None = None) -> None:
    """Load a weights file into ``model`` (built from ``config``), as nas-sr saves it or as the
    family's authors distribute it (their parameter names mapped by the family)."""
    from nas_sr.models.registry import get_family

    state = get_family(config["family"]).convert_weights(read_state_dict(path, key))
    load_weights(model, state, source=str(path))
