"""Imports go down the layers of DESIGN.md, never up or sideways (function-level imports too):
``errors`` -> ``config`` -> ``utils`` -> ``data`` -> ``backbones`` -> ``gan`` | ``classify`` |
``turing`` -> ``evaluate`` -> ``experiments`` -> ``workflows`` -> ``cli``. ``turing`` and
``evaluate`` use no classifier training code (only its model definitions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lesiongan"
RANK = {
    "errors": 0,
    "config": 1,
    "utils": 2,
    "recipes": 2,
    "data": 3,
    "backbones": 4,
    "gan": 5,
    "classify": 5,
    "turing": 5,
    "evaluate": 6,
    "experiments": 7,
    "workflows": 8,
    "cli": 9,
    "__main__": 10,
    "__init__": 10,
}
CLASSIFY_FOR_AUDITS = {"lesiongan.classify.models"}  # what turing/ and evaluate/ may use


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return [m for m in found if m.startswith("lesiongan.")]


FILES = sorted(SRC.rglob("*.py"))


def test_every_package_has_a_layer() -> None:
    assert {_package(p) for p in FILES} <= set(RANK)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_down_only(path: Path) -> None:
    here = _package(path)
    bad = []
    for module in _imports(path):
        there = module.split(".")[1]
        if there == here:
            continue
        if RANK.get(there, 99) >= RANK[here]:
            bad.append(module)  # up, or sideways (gan <-> classify <-> turing)
        elif here in ("turing", "evaluate") and there == "classify":
            bad += [module] if module not in CLASSIFY_FOR_AUDITS else []
    assert not bad, f"{path.relative_to(SRC)} imports {bad}"


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The premise: an import of experiments from gan is found (and is not one today)."""
    fake = tmp_path / "m.py"
    fake.write_text("def f():\n    from lesiongan.experiments.jobs import Plan\n")
    assert _imports(fake) == ["lesiongan.experiments.jobs"]
    assert RANK["experiments"] >= RANK["gan"]
