"""The code's structure, enforced: no import cycle between modules (imports inside
functions count; `if TYPE_CHECKING:` ones do not run), no module over 500 lines.
The layers themselves are import-linter's contracts (pyproject.toml), run by .ci/run."""

from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent / "metacrm"
MAX_LINES = 500


def cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
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
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles():
    graph = grimp.build_graph("metacrm", exclude_type_checking_imports=True)
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one_made_on_purpose():
    graph = grimp.build_graph("metacrm", exclude_type_checking_imports=True)
    graph.add_import(importer="metacrm.platform.db.tables", imported="metacrm.platform.runtime")
    assert any("metacrm.platform.runtime" in c for c in cycles(graph))


def test_no_module_over_500_lines():
    long = {
        str(p.relative_to(ROOT.parent)): n
        for p in ROOT.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
