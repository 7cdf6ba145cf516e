"""A report as a person first sees it: headless Chromium, 1280 px wide, from the top down to the
end of the audit's realism table (verdict, tables, sample grids), saved as a PNG.

    .venv/bin/python scripts/screenshot_report.py demo-out/experiment/report.html \
        docs/images/demo-report.png

Needs Playwright and a Chromium (``--chromium``, default /usr/bin/chromium); offline.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

BOTTOM = """() => {
  const e = document.querySelector('#variants-table') || document.querySelector('#details');
  return e ? e.getBoundingClientRect().bottom + window.scrollY + 20 : document.body.scrollHeight;
}"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--width", type=int, default=1280)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(offline=True, viewport={"width": args.width, "height": 1600})
        page = context.new_page()
        page.goto(args.report.resolve().as_uri())
        bottom = int(page.evaluate(BOTTOM))
        full = Path(tmp) / "full.png"
        page.screenshot(path=str(full), full_page=True)
        browser.close()
        im = Image.open(full).convert("RGB")
        im = im.crop((0, 0, im.width, min(im.height, bottom)))
        im.save(args.png, optimize=True)  # no palette: it would drop the red and green cells
    print(f"{args.png}: {im.width} x {im.height}")


if __name__ == "__main__":
    main()
