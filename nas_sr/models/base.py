"""The extension point for model families: one :class:`Family` subclass per family."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

if TYPE_CHECKING:
    from torch import nn

COLORS = ("y", "rgb")


class Family(abc.ABC):
    """A family of SR networks, built from a plain config dict.

    A config is ``{"family": name, "scale": s, "color": "y" | "rgb", **hyperparameters}``.
    Subclasses declare their hyper-parameters (name -> type) and build the network.
    """

    name: ClassVar[str]
    hyperparameters: ClassVar[Mapping[str, type]] = {}
    #: Values a config may omit.
    defaults: ClassVar[Mapping[str, Any]] = {}
    colors: ClassVar[tuple[str, ...]] = COLORS
    scales: ClassVar[tuple[int, ...]] = (2, 3, 4)
    #: Pixel range the network expects and produces (1.0 or 255.0).
    input_range: ClassVar[float] = 1.0
    #: Lower bound of each integer hyper-parameter (the default is 1).
    minimum: ClassVar[Mapping[str, int]] = {}
    #: Smallest LR side an exported graph (ONNX, dynamic height/width) takes: smaller inputs run another
    #: path (RLFN's ESA pooling) that one graph cannot hold. PyTorch takes every size.
    min_export_side: ClassVar[int] = 1
    #: Named configurations (e.g. the authors' released ones): preset name -> hyper-parameters.
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def check(self, config: Mapping[str, Any]) -> list[str]:
        """Return messages for combinations of values that cannot be built (none by default)."""
        return []

    def convert_weights(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Map a state_dict as its authors distribute it onto this family's parameter names.

        Identity by default; families with released weights of other code bases override it.
        """
        return dict(state)

    def deploy(self, model: "nn.Module") -> "nn.Module":
        """The deploy form of a network built by :meth:`build`, with the same output.

        By default every re-parameterisable module (:mod:`nas_sr.models.reparam`) is merged in a
        copy; a network without one is returned as it is.
        """
        from nas_sr.models import reparam

        return reparam.deploy(model)

    @abc.abstractmethod
    def build(self, config: Mapping[str, Any]) -> "nn.Module":
        """Build the network of a validated config."""
