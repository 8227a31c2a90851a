"""The core stands under every stage: replytune/ imports no stage, and data_prep and recipes, siblings on top of it,
never import each other (nor judge or scripts, which stand on them). Imports inside functions count too."""

from __future__ import annotations

import ast

import pytest

from tests.paths import REPO_ROOT

NOT_IMPORTED_BY = {
    "replytune": {"data_prep", "recipes", "judge", "scripts", "benchmarks", "tests"},
    "data_prep": {"recipes", "judge", "scripts", "benchmarks", "tests"},
    "recipes": {"data_prep", "judge", "scripts", "benchmarks", "tests"},
}


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
