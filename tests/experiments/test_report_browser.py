"""The experiment report as a person sees it: rendered offline in Chromium, with its numbers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "classify"))
from clf_helpers import make_synthetic_dir

from lesiongan.experiments.config import ImbalanceConfig
from lesiongan.experiments.imbalance import run_imbalance

pytestmark = pytest.mark.slow


def test_report_renders_table_plots_and_grids_offline(
    browser, tiny_dataset: Path, tmp_path: Path
) -> None:
    syn = make_synthetic_dir(
        tmp_path / "syn", tiny_dataset, {"melanoma": 6, "seborrheic_keratosis": 6}
    )
    cfg = ImbalanceConfig.model_validate(
        {
            "dataset": str(tiny_dataset),
            "strategies": ["none", "synthetic-balance"],
            "seeds": [0, 1],
            "classify": {"image_size": 16, "epochs": 1, "batch_size": 8},
            "bootstrap": 100,
            "sample": {"synthetic": str(syn)},
        }
    )
    out = tmp_path / "exp"
    run_imbalance(cfg, out)
    results = json.loads((out / "results.json").read_text())
    context = browser.new_context(offline=True)  # the file must not need the network
    page = context.new_page()
    page.goto((out / "report.html").resolve().as_uri())
    rows = page.locator("#results-table tbody tr")
    assert rows.count() == 2
    for i, strategy in enumerate(results["strategies"]):
        assert rows.nth(i).locator("td").first.inner_text() == strategy
        shown = rows.nth(i).locator('td[data-key="balanced_accuracy"]').inner_text()
        mean = results["summary"][strategy]["balanced_accuracy"]["mean"]
        assert shown.splitlines()[0] == f"{mean:.3f}"
    images = page.locator("img")
    assert images.count() >= 6
    widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
    assert all(w > 0 for w in widths)  # every embedded figure decodes
    assert page.locator("#samples").is_visible()
    assert page.locator("#paired-table tbody tr").count() == 1
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 20_000
    context.close()
