"""Re-render every result block of README.md and docs/ from the committed results.

``<!-- verdict:NAME -->`` blocks get ``lesiongan report docs/results/NAME --markdown`` (tables and
sentences); ``<!-- headline:NAME -->`` blocks get the plain sentences alone; ``<!-- coverage:NAME
-->`` blocks the coverage table of ``docs/results/NAME/coverage.json`` (``lesiongan report
docs/results/NAME --coverage``). Run it after new results are exported;
``tests/test_readme_verdict.py`` fails while a block is stale.

    python scripts/render_result_blocks.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from doc_pages import doc_pages  # noqa: E402
from lesiongan.experiments.coverage import COVERAGE, render_coverage_markdown  # noqa: E402
from lesiongan.experiments.verdict import (  # noqa: E402
    render_verdict_headline,
    render_verdict_markdown,
)

# marker kind -> (the file of docs/results/NAME it renders, the renderer)
RENDER = {
    "verdict": ("results.json", render_verdict_markdown),
    "headline": ("results.json", render_verdict_headline),
    "coverage": (COVERAGE, render_coverage_markdown),
}


def render(text: str) -> str:
    def block(m: re.Match[str]) -> str:
        kind, name = m.group(1), m.group(2)
        filename, renderer = RENDER[kind]
        path = ROOT / "docs" / "results" / name / filename
        if not path.is_file():  # an example in a code block (the docs test names real gaps)
            return m.group(0)
        results = json.loads(path.read_text())
        return f"<!-- {kind}:{name} -->\n{renderer(results)}\n<!-- /{kind}:{name} -->"

    pattern = r"<!-- (verdict|headline|coverage):([\w.-]+) -->\n?.*?\n?<!-- /\1:\2 -->"
    return re.sub(pattern, block, text, flags=re.S)


def main() -> None:
    for page in doc_pages(ROOT):
        text = page.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            print(f"rendered {page.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
