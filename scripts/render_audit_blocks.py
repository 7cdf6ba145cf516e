"""Print the audit blocks the documentation quotes, rendered from the committed files.

    .venv/bin/python scripts/render_audit_blocks.py [NAME ...]

Each block is printed between its markers (``<!-- audit:NAME -->`` ... ``<!-- /audit:NAME -->``),
ready to paste into docs/audit.md; without NAME, every block the pages quote today.
``tests/test_docs_audit.py`` fails while a page's block differs from this output.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from doc_pages import blocks_in_pages  # noqa: E402
from lesiongan.evaluate.summary import render_audit_block  # noqa: E402


def main(names: list[str]) -> None:
    names = names or list(dict.fromkeys(name for _, name, _ in blocks_in_pages("audit", ROOT)))
    for name in names:
        print(f"<!-- audit:{name} -->\n{render_audit_block(name, ROOT)}\n<!-- /audit:{name} -->\n")


if __name__ == "__main__":
    main(sys.argv[1:])
