"""The markdown pages that quote results: README.md and the documentation site's pages.

Results are quoted between markers (``<!-- verdict:NAME -->`` ... ``<!-- /verdict:NAME -->``,
``<!-- generators:NAME -->`` ...); the tests that keep those blocks equal to the committed
``docs/results/**/results.json`` read every page listed here, so a block stays checked wherever
it moves. ``docs/results/`` itself (notes beside the results) is not a page that quotes.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def doc_pages(root: Path = ROOT) -> list[Path]:
    """README.md, then every ``docs/**/*.md`` outside ``docs/results/``, sorted."""
    docs = root / "docs"
    pages = [root / "README.md"] if (root / "README.md").is_file() else []
    for path in sorted(docs.rglob("*.md")) if docs.is_dir() else []:
        if (docs / "results") not in path.parents:
            pages.append(path)
    return pages


def marked_blocks(text: str, kind: str) -> dict[str, str]:
    """``name -> text`` between each pair of ``kind`` markers (newlines next to them dropped)."""
    pattern = rf"<!-- {kind}:([\w.-]+) -->\n?(.*?)\n?<!-- /{kind}:\1 -->"
    return dict(re.findall(pattern, text, re.S))


def without_code_blocks(text: str) -> str:
    """The text without fenced code blocks (where markers are examples, not quotes)."""
    return re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.M | re.S)


def blocks_in_pages(kind: str, root: Path = ROOT) -> list[tuple[Path, str, str]]:
    """``(page, name, text)`` for every ``kind`` block of every page, outside code blocks."""
    out = []
    for page in doc_pages(root):
        page_text = without_code_blocks(page.read_text(encoding="utf-8"))
        for name, text in marked_blocks(page_text, kind).items():
            out.append((page, name, text))
    return out
