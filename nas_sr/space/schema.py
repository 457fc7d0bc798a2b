"""The search-space file format, as pydantic models (structure only; values are checked
against the model registry by :mod:`nas_sr.space.space`).

A file is a mapping with these keys (anything else is an error)::

    name: edge_sr                 # required
    description: free text        # optional
    scales: [2, 3, 4]             # required: every branch is searched at each of these scales
    color: y                      # y (default) | rgb
    branches:                     # required, at least one
      - family: esr-max           # a registered model family
        name: esr-max-small       # optional, unique; defaults to the family name
        params:                   # one entry per hyper-parameter (those with defaults may be left out)
          kernel_size: [3, 5, 7]          # list: categorical choices
          channels: {low: 1, high: 16}    # range, inclusive: {low, high, step?, log?}
          # a plain scalar is a fixed value

Ranges take ``step`` (``high - low`` a multiple of it) or ``log: true`` (sampling on a log scale,
``low > 0``). Float ranges without a step are continuous: they can be sampled, not counted.
Each value is checked against the family (type, minimum, its ``check`` of combinations), and a
configuration that several branches share is counted and enumerated once.

New top-level sections (training, cost, objectives, ...) are new optional fields of
:class:`SpaceSpec`, each its own :class:`Section` model.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError
from pydantic import field_validator, model_validator
from pydantic_core import PydanticCustomError

from nas_sr.space.errors import FieldError, Loc

NAME_PATTERN = r"^[A-Za-z0-9_-]+$"


class Section(BaseModel):
    """Base of every mapping in a search-space file: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key not in cls.model_fields:
                    raise PydanticCustomError(
                        "unknown_key",
                        "unknown key (expected one of: {expected})",
                        {"key": key, "expected": ", ".join(cls.model_fields)},
                    )
        return data


class RangeSpec(Section):
    """``{low, high, step?, log?}``: an inclusive int or float range (types checked per family)."""

    low: Any
    high: Any
    step: Any = None
    log: StrictBool = False


class BranchSpec(Section):
    """One family with the values of its hyper-parameters: a conditional branch of the space."""

    family: str
    name: str | None = Field(None, pattern=NAME_PATTERN)
    params: dict[str, Any] = {}

    @field_validator("params", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class SpaceSpec(Section):
    """The whole file."""

    name: str = Field(min_length=1)
    description: str = ""
    scales: list[StrictInt] = Field(min_length=1)
    color: Literal["y", "rgb"] = "y"
    branches: list[BranchSpec] = Field(min_length=1)

    @field_validator("scales")
    @classmethod
    def _unique_scales(cls, scales: list[int]) -> list[int]:
        if len(set(scales)) < len(scales):
            raise PydanticCustomError("duplicate", "duplicate scales")
        return scales


def validate(model: type[Section], data: Any, loc: Loc = ()) -> Any:
    """``model.model_validate(data)``, with the first error as a one-line :class:`FieldError`.

    >>> validate(RangeSpec, {"low": 1, "hihg": 3}, ("params", "channels"))
    Traceback (most recent call last):
    ...
    nas_sr.space.errors.FieldError: params.channels.hihg: unknown key (expected one of: low, high, step, log) (got 3)
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
    where, got = (*loc, *error["loc"]), error.get("input")
    if error["type"] == "missing":
        raise FieldError(where, "missing required key") from None
    if error["type"] == "unknown_key":
        key = error["ctx"]["key"]
        where, got = (*where, str(key)), got[key]
    if where[-1:] == ("[key]",):  # a mapping key of the wrong type
        raise FieldError((*where[:-2], str(where[-2])), "keys must be strings", got) from None
    message = re.sub(r" or instance of \w+| after validation", "", error["msg"]).replace("dictionary", "mapping")
    raise FieldError(where, message[0].lower() + message[1:], got) from None
