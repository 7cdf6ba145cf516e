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
    exp = out / "experiment"
    with open(exp / "synthetic" / "unselected" / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["label"] for r in rows} == {"melanoma", "seborrheic_keratosis", "nevus"}
    assert json.loads((out / "gan" / "status.json").read_text())["state"] == "done"
    assert train["nevus"] > train["melanoma"]
    results = json.loads((exp / "results.json").read_text())
    # the same comparison as the real-data verdict, with every strategy of the method:
    # real-only strategies, three synthetic variants each with synthetic-balance, CASED, soft
    # labels and synthetic-only (CAS), the best real-only reference
    variants = ("unselected", "d-score", "classifier")
    with_syn = ("synthetic-balance", "cased", "soft-label", "synthetic-only")
    assert set(results["summary"]) == {
        "none",
        "oversample",
        "class-weight",
        *(f"{s}@{v}" for s in with_syn for v in variants),
    }
    assert all(run["metrics"]["path"] == "cached" for run in results["runs"].values())
    assert results["reference"] in ("none", "oversample", "class-weight")
    for v in variants:
        assert results["variants"][v]["cas"]["cas"] >= 0
        assert results["variants"][v]["realism"]["features"] == "imagenet"
    info_d = json.loads((exp / "synthetic" / "d-score" / "synthetic.json").read_text())
    assert info_d["selection"]["method"] == "d-score"
    assert (exp / "report.html").stat().st_size > 50_000
    assert "report:" in stdout and "balanced accuracy" in stdout
    metrics = json.loads((exp / "audit" / "memorization" / "metrics.json").read_text())
    assert metrics["features"] == "imagenet"
    assert (exp / "audit" / "structures" / "examples.png").is_file()
    html = (exp / "report.html").read_text()
    assert "Audit of the synthetic images" in html and "ct_statistic" in html
    assert html.index('id="verdict"') < html.index('id="samples"') < html.index('id="audit"')
    for v in variants:
        assert f"real and synthetic ({v}) samples per class" in html
    assert "detector precision / recall" in html  # the fine-structure table

    code, stdout, err = cli("demo", "--quick", "--out", out, "--workers", 1)
    assert code == 0
    assert stdout.count("reused the finished output") == 3  # synth, prepare, gan
    # every job of the experiment: 30 classifier runs, 3 samples, 3 audits and 4 feature sets
    assert err.count(": reused") == 40

    # an interrupted GAN run (status not done) is resumed before the experiment goes on, and a
    # variant's missing sample is drawn again
    status = out / "gan" / "status.json"
    status.write_text(json.dumps({"state": "stopped", "kimg": 1.0, "total_kimg": 1.2}))
    shutil.rmtree(exp / "synthetic" / "d-score")
    code, stdout, err = cli("demo", "--quick", "--out", out, "--workers", 1)
    assert code == 0, err
    assert json.loads(status.read_text())["state"] == "done"
    assert (exp / "synthetic" / "d-score" / "manifest.csv").is_file()
