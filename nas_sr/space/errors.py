"""Search-space errors: one line naming the file, the field path and the bad value."""

from __future__ import annotations

import itertools
import re
import reprlib
from typing import Any, Sequence, Union

Loc = Sequence[Union[str, int]]
_NOTHING = object()
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_-]+$")


class _BoundedRepr(reprlib.Repr):
    """``repr`` with bounded depth and length (mappings keep their order)."""

    def repr_dict(self, x: dict, level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = [f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
                  for k, v in itertools.islice(x.items(), self.maxdict)]
        return "{" + ", ".join(pieces + ["..."] * (len(x) > self.maxdict)) + "}"


_REPR = _BoundedRepr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxstring, _REPR.maxlong, _REPR.maxother = 4, 20, 200, 200, 200
_REPR.maxtuple = _REPR.maxlist = _REPR.maxarray = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 30


class SpaceError(ValueError):
    """A search space that cannot be loaded or used; the message is one line.

    It starts with the file (or ``<dict>``), then the field path, then what is wrong:
    ``search_spaces/x.yaml: branches[2].params.channels: empty list (got [])``.
    """


class FieldError(ValueError):
    """A bad field, before the file is known: :class:`SearchSpace` turns it into a :class:`SpaceError`."""

    def __init__(self, loc: Loc, message: str, got: Any = _NOTHING) -> None:
        text = f"{format_loc(loc)}: {message}"
        super().__init__(text if got is _NOTHING else f"{text} (got {show(got)})")


def format_loc(loc: Loc) -> str:
    """A field path as written in messages.

    >>> format_loc(("branches", 2, "params", "channels"))
    'branches[2].params.channels'
    >>> format_loc(())
    'top level'
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if _IDENTIFIER.match(str(part)) else repr(part)
            text += f".{name}" if text else name
    return text or "top level"


def show(value: Any, limit: int = 80) -> str:
    """A short one-line rendering of a bad value.

    >>> show("three"), show(list(range(100)))
    ("'three'", '[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 ...]')
    """
    text = _REPR.repr(value)  # bounded: a YAML alias bomb must not be written out in full
    if len(text) > limit:
        closing = text[-1] if text[-1] in ")]}" else ""
        text = text[: limit - 5].rsplit(", ", 1)[0] + " ..." + closing
    return text
