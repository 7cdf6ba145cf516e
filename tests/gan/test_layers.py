"""The GAN layer imports only layers below it (DESIGN.md): never the classifier, whose
selection scores reach it through :class:`lesiongan.data.scoring.ImageScorer`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GAN = Path(__file__).resolve().parents[2] / "src" / "lesiongan" / "gan"
ABOVE = ("classify", "turing", "evaluate", "experiments", "workflows", "cli")


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # function-level too
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


@pytest.mark.parametrize("path", sorted(GAN.glob("*.py")), ids=lambda p: p.name)
def test_gan_modules_import_nothing_above_them(path: Path) -> None:
    bad = [m for m in _imports(path) if m.split(".")[:2] in (["lesiongan", a] for a in ABOVE)]
    assert not bad, f"{path.name} imports {bad}"
