"""The "Baselines on real ISIC 2017" table, rendered from committed results files only.

The rows are listed in ``docs/results/classifier-sweep/baselines.yaml``; each names the results
file its numbers come from (see ``lesiongan.experiments.baselines``). Prints the table
(``--brief``: the README's rows); ``--write`` puts both into the pages instead, between
``<!-- baselines:classifier-sweep -->`` and ``<!-- baselines-brief:classifier-sweep -->``
markers in README.md and docs/*.md (tests/test_readme_baselines.py checks they hold exactly it).

    python scripts/classifier_sweep/baselines.py [--brief] [--write]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from lesiongan.experiments.baselines import render_baselines_markdown

ROOT = Path(__file__).resolve().parents[2]
NAME = "classifier-sweep"


def _replace(text: str, kind: str, block: str) -> str:
    pattern = rf"(<!-- {kind}:{NAME} -->).*?(<!-- /{kind}:{NAME} -->)"
    return re.sub(pattern, lambda m: f"{m.group(1)}\n{block}\n{m.group(2)}", text, flags=re.S)


def write_pages(root: Path) -> list[Path]:
    """Replace every baselines block of README.md and docs/ (outside docs/results)."""
    spec = root / "docs" / "results" / NAME / "baselines.yaml"
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    changed = []
    for page in pages:
        if (root / "docs" / "results") in page.parents:
            continue
        text = page.read_text(encoding="utf-8")
        new = text
        for kind, brief in (("baselines", False), ("baselines-brief", True)):
            block = render_baselines_markdown(spec, root, brief)
            new = _replace(new, kind, block)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed.append(page)
    return changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brief", action="store_true", help="the README's rows and columns")
    ap.add_argument("--write", action="store_true", help="update the blocks in the pages")
    args = ap.parse_args()
    if args.write:
        for page in write_pages(ROOT):
            print(f"updated {page.relative_to(ROOT)}")
    else:
        spec = ROOT / "docs" / "results" / NAME / "baselines.yaml"
        print(render_baselines_markdown(spec, ROOT, args.brief))


if __name__ == "__main__":
    main()
