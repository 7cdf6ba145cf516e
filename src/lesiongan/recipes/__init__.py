"""Bundled YAML recipes (``configs/`` in the repository is a link to this folder).

``--config`` takes a path or a recipe name: ``--config gan-demo`` finds ``gan-demo.yaml`` here.
"""

from __future__ import annotations

from pathlib import Path

RECIPES = Path(__file__).resolve().parent


def resolve_recipe(value: Path | str) -> Path:
    """A config path as given if it exists, else the bundled recipe of that name (if any)."""
    path = Path(value)
    if path.exists():
        return path
    for candidate in (RECIPES / path.name, RECIPES / f"{path.name}.yaml"):
        if path.parent == Path(".") and candidate.is_file():
            return candidate
    return path


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))
