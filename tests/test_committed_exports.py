"""Every exported result committed under ``docs/results/`` (a directory with ``runs.json``:
per-run predictions, the dataset fingerprint, checkpoint hashes, the code revision) re-derives:
its tables, intervals and calls are recomputed from the predictions alone and equal the
committed ``results.json`` (what ``lesiongan report DIR --check`` does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lesiongan.experiments.export import check

ROOT = Path(__file__).resolve().parents[1]
EXPORTS = sorted(p.parent for p in (ROOT / "docs" / "results").glob("*/runs.json"))


@pytest.mark.parametrize("export", EXPORTS, ids=[p.name for p in EXPORTS])
def test_a_committed_export_rederives_from_its_predictions(export: Path) -> None:
    runs = json.loads((export / "runs.json").read_text())
    assert runs["inputs"]["dataset_fingerprint"] and runs["inputs"]["code_revision"]
    for run in runs["runs"].values():
        assert (export / run["predictions"]).is_file()
    assert check(export) == []


def test_the_verdicts_are_exported() -> None:
    """The real-data verdicts of this round are committed as exports, not only as tables."""
    assert {"isic2017-verdict", "isic2017-scarcity"} <= {p.name for p in EXPORTS}
