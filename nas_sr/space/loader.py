"""Reading a search-space YAML file (``yaml.safe_load`` only)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from nas_sr.space.errors import SpaceError
from nas_sr.space.space import SearchSpace


def load_space(path: str | os.PathLike[str]) -> SearchSpace:
    """Load and validate a search-space file; every problem is a one-line :class:`SpaceError`.

    >>> load_space("no/such/space.yaml")
    Traceback (most recent call last):
    ...
    nas_sr.space.errors.SpaceError: no/such/space.yaml: no such file
    """
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpaceError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise SpaceError(f"{source}: is a directory, not a search-space file") from None
    except UnicodeDecodeError as exc:
        raise SpaceError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SpaceError(f"{source}: cannot read it ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise SpaceError(f"{where}: invalid YAML: {exc.problem or exc.context}{context}") from None
    except RecursionError:
        raise SpaceError(f"{source}: invalid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        raise SpaceError(f"{source}: invalid YAML: {' '.join(str(exc).split())}") from None
    if data is None:
        raise SpaceError(f"{source}: empty file (expected a mapping with name, scales and branches)")
    return SearchSpace.from_dict(data, source=source)
