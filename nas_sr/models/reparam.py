"""Structural re-parameterisation: networks that train in one form and deploy in another.

A module with a training form (several linear branches) and a deploy form (one convolution of the
same function) declares it by these members (``reparameterize()`` named as in timm's
re-parameterisable blocks):

- ``deployed`` (bool): whether it is in its deploy form;
- ``reparameterize()``: merge the branches into the deploy form, in place;
- ``deploy_keys`` (state_dict names of the deploy form, relative to the module) and
  ``training_state(deployed_state)``: training-form tensors with exactly the output of the given
  deploy-form tensors, so that a deploy-form file (a released one, an export) loads into a network
  built for training, for evaluation as for ``init_weights``.

:func:`deploy` and :func:`training_state` apply them to a whole network; a network without such
modules passes unchanged. Costs, exports and profiles go through
:func:`nas_sr.models.registry.deploy_model`, so they measure what is deployed while training runs
the training form. :class:`Conv3XC` is the one such module so far (SPAN's).
"""

from __future__ import annotations

import copy
from typing import Any, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn


def _reparameterizable(module: nn.Module) -> bool:
    return callable(getattr(module, "reparameterize", None)) and hasattr(module, "deploy_keys")


def training_modules(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(name, module) of each submodule still in its training form."""
    for name, module in model.named_modules():
        if _reparameterizable(module) and not module.deployed:
            yield name, module


def deploy(model: nn.Module) -> nn.Module:
    """The deploy form of ``model``: a merged copy, or ``model`` itself when nothing is left to merge.

    >>> net = nn.Sequential(Conv3XC(3, 4, gain=2), nn.ReLU())
    >>> merged = deploy(net)
    >>> sorted(merged.state_dict()), net[0].deployed
    (['0.eval_conv.bias', '0.eval_conv.weight'], False)
    >>> x = torch.rand(1, 3, 9, 7)
    >>> bool((merged(x) - net(x)).abs().max() < 1e-5), deploy(merged) is merged
    (True, True)
    """
    if next(training_modules(model), None) is None:
        return model
    merged = copy.deepcopy(model)
    for _, module in list(training_modules(merged)):
        module.reparameterize()
    return merged


def training_state(model: nn.Module, state: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` with every deploy-form entry of a training-form module of ``model`` replaced by
    training-form tensors of the same output (other entries unchanged).

    >>> net = nn.Sequential(Conv3XC(3, 4, gain=2))
    >>> deployed = deploy(net).state_dict()
    >>> net.load_state_dict(training_state(net, deployed))
    <All keys matched successfully>
    >>> x = torch.rand(1, 3, 6, 5)
    >>> bool((net(x) - deploy(net)(x)).abs().max() < 1e-5)
    True
    """
    out = dict(state)
    for name, module in training_modules(model):
        prefix = f"{name}." if name else ""
        keys = [prefix + key for key in module.deploy_keys]
        own = set(module.state_dict())
        if all(k in out for k in keys) and not any(prefix + k in out for k in own):
            tensors = module.training_state({key: out.pop(prefix + key) for key in module.deploy_keys})
            out.update({prefix + key: value for key, value in tensors.items()})
    return out


class Conv3XC(nn.Module):
    """A 3x3 convolution (padding 1, bias) that trains, with ``gain`` g >= 1, as the sum of a 1x1
    skip conv and a chain 1x1 (Cin -> g Cin) -> 3x3 valid (g Cin -> g Cout) -> 1x1 (g Cout -> Cout)
    on the input zero-padded by one pixel, and deploys as one 3x3 conv ``eval_conv``. ``gain=0``
    builds the deploy form directly.

    The padding comes before the first 1x1 conv, so the border carries its bias exactly as the
    merged conv's zero padding does: the merge is exact, borders included.

    >>> conv = Conv3XC(28, 28, gain=2)
    >>> sum(p.numel() for p in conv.parameters()), sum(p.numel() for p in deploy(conv).parameters())
    (32312, 7084)
    """

    deploy_keys = ("eval_conv.weight", "eval_conv.bias")

    def __init__(self, in_channels: int, out_channels: int, gain: int = 2) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.gain = in_channels, out_channels, gain
        if gain:
            self.skip = nn.Conv2d(in_channels, out_channels, 1)
            self.expand = nn.Conv2d(in_channels, gain * in_channels, 1)
            self.conv = nn.Conv2d(gain * in_channels, gain * out_channels, 3)
            self.reduce = nn.Conv2d(gain * out_channels, out_channels, 1)
        else:
            self.eval_conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    @property
    def deployed(self) -> bool:
        return not self.gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deployed:
            return self.eval_conv(x)
        return self.reduce(self.conv(self.expand(F.pad(x, (1, 1, 1, 1))))) + self.skip(x)

    def merged(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight and bias of the one 3x3 conv equal to the branches (computed in float64)."""
        w1, b1 = (t.detach().double() for t in (self.expand.weight.flatten(1), self.expand.bias))
        w2, b2 = (t.detach().double() for t in (self.conv.weight, self.conv.bias))
        w3, b3 = (t.detach().double() for t in (self.reduce.weight.flatten(1), self.reduce.bias))
        weight = torch.einsum("on,nmuv,mi->oiuv", w3, w2, w1)
        weight[:, :, 1, 1] += self.skip.weight.detach().double().flatten(1)
        bias = w3 @ (b2 + torch.einsum("nmuv,m->n", w2, b1)) + b3 + self.skip.bias.detach().double()
        dtype = self.skip.weight.dtype
        return weight.to(dtype), bias.to(dtype)

    def reparameterize(self) -> None:
        """Replace the training branches by the merged ``eval_conv`` (in place)."""
        if self.deployed:
            return
        weight, bias = self.merged()
        device = self.skip.weight.device
        for name in ("skip", "expand", "conv", "reduce"):
            delattr(self, name)
        self.eval_conv = nn.Conv2d(self.in_channels, self.out_channels, 3, padding=1).to(device, weight.dtype)
        with torch.no_grad():
            self.eval_conv.weight.copy_(weight)
            self.eval_conv.bias.copy_(bias)
        self.gain = 0

    def training_state(self, deployed: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Branch tensors whose merge is exactly ``deployed`` (``eval_conv.weight``/``.bias``): the
        chain carries the 3x3 kernel through identity 1x1 convs, the skip is zero."""
        weight, bias = deployed["eval_conv.weight"], deployed["eval_conv.bias"]
        cin, cout, g = self.in_channels, self.out_channels, self.gain
        expand = torch.zeros(g * cin, cin, 1, 1, dtype=weight.dtype)
        expand[:cin, :, 0, 0] = torch.eye(cin, dtype=weight.dtype)
        conv = torch.zeros(g * cout, g * cin, 3, 3, dtype=weight.dtype)
        conv[:cout, :cin] = weight
        reduce = torch.zeros(cout, g * cout, 1, 1, dtype=weight.dtype)
        reduce[:, :cout, 0, 0] = torch.eye(cout, dtype=weight.dtype)
        zeros = bias.new_zeros
        return {"skip.weight": zeros(cout, cin, 1, 1), "skip.bias": zeros(cout),
                "expand.weight": expand, "expand.bias": zeros(g * cin),
                "conv.weight": conv, "conv.bias": zeros(g * cout),
                "reduce.weight": reduce, "reduce.bias": bias.clone()}
