"""Reference models of a search: trained networks (e.g. a released RLFN) measured once, before the
search, on its validation sets and at its cost resolution, so that a constraint can say "at least
as accurate as RLFN" (``psnr@val>=rlfn``, :mod:`nas_sr.search.constraints`).

A reference's attributes are keyed as a trial's (``psnr_<set>``, ``ssim_<set>``, ``params``,
``flops``) and measured the same way: the trainer's validation and the deploy form's costs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from nas_sr.search.constraints import Constraint

_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")


def parse_reference(text: str) -> tuple[str, Path]:
    """``NAME=WEIGHTS`` -> (name, path); NAME is a preset or family name (``rlfn``, ``vapsr-s``).

    >>> parse_reference("rlfn=../shared/weights/RLFN/team00_rlfn.pth")
    ('rlfn', PosixPath('../shared/weights/RLFN/team00_rlfn.pth'))
    >>> parse_reference("rlfn")
    Traceback (most recent call last):
    ...
    ValueError: bad reference 'rlfn': expected NAME=WEIGHTS, NAME a preset or family name (e.g. rlfn=rlfn.pth)
    """
    name, _, weights = text.partition("=")
    if not _NAME.match(name.strip()) or not weights.strip():
        raise ValueError(f"bad reference {text!r}: expected NAME=WEIGHTS, NAME a preset or family name "
                         "(e.g. rlfn=rlfn.pth)")
    return name.strip(), Path(weights.strip())


def reference_attrs(name: str, weights: str | Path, scales: Sequence[int],
                    val_sets: Mapping[str, Sequence[tuple[str, Any]]], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The validation metrics and deploy-form costs of preset ``name`` with ``weights`` at the
    search's one scale (``settings``: ``resolution``, ``device``)."""
    import torch

    from nas_sr.cost import model_cost
    from nas_sr.models import build_model, deploy_model
    from nas_sr.models.spec import config_from_spec
    from nas_sr.models.weights import load_checkpoint
    from nas_sr.train.trainer import validate

    if len(scales) != 1:
        raise ValueError(f"reference {name!r}: a reference model needs a search space of one scale "
                         f"(this one has {', '.join(map(str, scales))})")
    config = config_from_spec(name, scales[0])
    model = build_model(config)
    load_checkpoint(model, config, weights)
    device = torch.device(settings.get("device") or "cpu")
    model = deploy_model(config, model).to(device).eval()
    with torch.no_grad():
        metrics = validate(model, config, val_sets, device, with_ssim=True)
    cost = model_cost(config, tuple(settings.get("resolution", (1920, 1080))))  # type: ignore[arg-type]
    return {**metrics, "params": cost.params, "flops": cost.flops, "config": config, "weights": str(weights)}


def measure_references(references: Mapping[str, Any], constraints: Sequence["Constraint"], scales: Sequence[int],
                       val_sets: Mapping[str, Sequence[tuple[str, Any]]],
                       settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """:func:`reference_attrs` of each reference (name -> weights), one line each on stderr; a
    ValueError when a constraint names one that is not given."""
    missing = sorted({c.reference for c in constraints if c.reference} - set(references))
    if missing:
        raise ValueError(f"a constraint names reference {missing[0]!r}, which is not given "
                         f"(--reference {missing[0]}=WEIGHTS)")
    out = {}
    for name in sorted(references):
        out[name] = attrs = reference_attrs(name, references[name], scales, val_sets, settings)
        scores = ", ".join(f"{k.replace('_', '@', 1)} {v:.4f}" for k, v in attrs.items() if k.startswith("psnr_"))
        print(f"nas-sr search: reference {name} ({Path(attrs['weights']).name}): {scores}, params "
              f"{attrs['params']}, flops {attrs['flops']:.4g}", file=sys.stderr)
    return out
