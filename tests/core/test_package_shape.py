"""The package's shape, as the brief states it: small modules, and a core that never imports an
integration (each module checked by its import statements, not by running it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ir3de_core", "ir3de_langchain", "ir3de_llamaindex", "ir3de_serve")
MAX_LINES = 400
INTEGRATIONS = ("ir3de_langchain", "ir3de_llamaindex", "ir3de_serve", "langchain", "llama_index")


def _modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def test_the_packages_are_found() -> None:
    assert len(_modules("ir3de_core")) > 40  # else the checks below check nothing


@pytest.mark.parametrize("path", _modules(*PACKAGES), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it by job"


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", _modules("ir3de_core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_never_imports_an_integration(path: Path) -> None:
    bad = {n for n in _imported(path) if n.split(".")[0] in INTEGRATIONS}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
