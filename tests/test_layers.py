"""The package's layering (issue 17): no import cycle between modules of ``nas_sr``, imports inside
functions counted, and those under ``if TYPE_CHECKING:`` too (grimp reads every import statement of
a module, wherever it is). The layers themselves are import-linter's contract in ``pyproject.toml``
(``lint-imports``, run by the README's test command); ``python tests/test_layers.py`` lists cycles."""

from __future__ import annotations

import sys


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ``nas_sr`` it imports (anywhere in it)."""
    import grimp

    graph = grimp.build_graph("nas_sr", exclude_type_checking_imports=False, cache_dir=None)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (and modules importing
    themselves): each holds at least one import cycle. Tarjan's algorithm, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    out.append(sorted(component))
    return out


def test_cycles_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_nas_sr():
    found = cycles(import_graph())
    assert found == [], "import cycles (in-function imports counted):\n" + "\n".join(" <-> ".join(c) for c in found)


if __name__ == "__main__":  # python tests/test_layers.py: the cycles, one a line
    found = cycles(import_graph())
    for component in found:
        print(" <-> ".join(component))
    print(len(found), "cycle(s)", file=sys.stderr)
