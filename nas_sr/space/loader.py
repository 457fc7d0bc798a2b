"""Reading a search-space YAML file: YAML's safe loader only (no ``!!python/...`` tags), and a key
written twice in one mapping is an error (plain YAML keeps the last silently)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from nas_sr.space.errors import SpaceError
from nas_sr.space.space import SearchSpace


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with a repeated key (keys merged in with ``<<:``
    may be overridden, as YAML's merge allows)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: the base class says so
                break
            if first is not key_node.start_mark:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep)


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
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
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
