"""``lesiongan demo --quick``: every stage runs, and a second run reuses or resumes them."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest


@pytest.mark.slow
def test_quick_demo_runs_end_to_end_then_reuses_and_resumes(cli, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    code, stdout, err = cli("demo", "--quick", "--out", out, "--workers", 1)
    assert code == 0, err
    info = json.loads((out / "dataset" / "dataset.json").read_text())
    train = info["counts"]["train"]
    with open(out / "synthetic" / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["label"] for r in rows} == {"melanoma", "seborrheic_keratosis"}
    assert json.loads((out / "gan" / "status.json").read_text())["state"] == "done"
    assert train["nevus"] > train["melanoma"]
    results = json.loads((out / "experiment" / "results.json").read_text())
    assert set(results["summary"]) == {
        "none",
        "oversample",
        "class-weight",
        "synthetic-balance",
        "cased",
        "soft-label",
    }
    assert (out / "experiment" / "report.html").stat().st_size > 50_000
    assert "report:" in stdout and "balanced accuracy" in stdout
    for kind in ("realism", "memorization"):  # audited in the baseline classifier's features
        metrics = json.loads((out / "experiment" / "audit" / kind / "metrics.json").read_text())
        assert metrics["features"] == "domain"
    html = (out / "experiment" / "report.html").read_text()
    assert "Audit of the synthetic images" in html and "ct_statistic" in html

    code, stdout, err = cli("demo", "--quick", "--out", out, "--workers", 1)
    assert code == 0
    assert stdout.count("reused the finished output") == 4
    assert err.count(": reused") == 12  # every classifier run of the experiment

    # an interrupted GAN run (status not done) is resumed, then sampling is redone
    status = out / "gan" / "status.json"
    status.write_text(json.dumps({"state": "stopped", "kimg": 1.0, "total_kimg": 1.2}))
    shutil.rmtree(out / "synthetic")
    code, stdout, err = cli("demo", "--quick", "--out", out, "--workers", 1)
    assert code == 0, err
    assert json.loads(status.read_text())["state"] == "done"
    assert (out / "synthetic" / "manifest.csv").is_file()
