"""The core stands under every stage and every import runs down: replytune/ imports no stage, data_prep and recipes,
siblings on top of it, never import each other (nor judge or scripts, which stand on them), judge imports no script
or stand-in, and no module reaches itself again through a circle of imports. Imports inside functions count, and so
do the ones under `if TYPE_CHECKING:` (a circle a type checker walks is still a circle a reader walks)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

NOT_IMPORTED_BY = {
    "replytune": {"data_prep", "recipes", "judge", "scripts", "benchmarks", "tests", "standins"},
    "data_prep": {"recipes", "judge", "scripts", "benchmarks", "tests", "standins"},
    "recipes": {"data_prep", "judge", "scripts", "benchmarks", "tests", "standins"},
    "judge": {"scripts", "benchmarks", "tests", "standins"},
    "standins": {"replytune", "data_prep", "recipes", "judge", "scripts", "benchmarks", "tests"},
    "scripts": {"benchmarks", "tests"},
}
# The packages whose modules may not import each other in a circle.
PACKAGES = ("replytune", "data_prep", "recipes", "judge", "standins", "scripts")


def imported_packages(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(NOT_IMPORTED_BY))
def test_no_import_runs_up_or_across(package):
    found = {
        f"{path.relative_to(REPO_ROOT)} imports {name}"
        for path in (REPO_ROOT / package).rglob("*.py")
        for name in imported_packages(path) & NOT_IMPORTED_BY[package]
    }
    assert not found, sorted(found)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(packages=PACKAGES) -> dict[str, set[str]]:
    """module -> the modules of `packages` it imports, anywhere in its file. `from a import b` points at the module
    a.b when there is one, else at a; an import of a package points at its __init__."""
    files = {module_name(path): path for package in packages for path in (REPO_ROOT / package).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's own package, one level up per extra dot
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                wanted = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            else:
                continue
            for target in wanted:
                while target and target not in files:  # `import a.b.c` of a name inside a.b: the module a.b
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, without recursion)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
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
    return sorted(found)


def test_no_import_circle():
    graph = import_graph()
    found = [
        " <-> ".join(component)
        + ": "
        + "; ".join(f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in component)
        for component in circles(graph)
    ]
    assert not found, found


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
