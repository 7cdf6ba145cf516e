"""The "Baselines on real ISIC 2017" tables in README.md and the docs are the committed results.

Every block between ``<!-- baselines:<name> -->`` and ``<!-- /baselines:<name> -->`` (and the
README's ``baselines-brief`` rows) in README.md or a ``docs/`` page must be exactly what
``lesiongan.experiments.baselines`` renders from ``docs/results/<name>/baselines.yaml`` and the
results files it names. Regenerate with ``python scripts/classifier_sweep/baselines.py --write``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doc_pages import ROOT, blocks_in_pages
from lesiongan.errors import DataError
from lesiongan.experiments.baselines import baseline_rows, render_baselines_markdown

KINDS = {"baselines": False, "baselines-brief": True}


def check_baselines(root: Path) -> tuple[int, list[str]]:
    """(blocks checked, one message per block that differs from its rendering or has no spec)."""
    wrong, checked = [], 0
    for kind, brief in KINDS.items():
        for page, name, text in blocks_in_pages(kind, root):
            checked += 1
            spec = root / "docs" / "results" / name / "baselines.yaml"
            where = f"{page.relative_to(root)}'s {kind}:{name} block"
            if not spec.is_file():
                wrong.append(f"{where} has no {spec.relative_to(root)}")
            elif text != render_baselines_markdown(spec, root, brief):
                wrong.append(
                    f"{where} differs from the committed results; regenerate it with: "
                    "python scripts/classifier_sweep/baselines.py --write"
                )
    return checked, wrong


def test_baselines_blocks_equal_the_committed_results() -> None:
    checked, wrong = check_baselines(ROOT)
    assert not wrong, "\n".join(wrong)
    full = {(p.name, n) for p, n, _ in blocks_in_pages("baselines")}
    brief = {(p.name, n) for p, n, _ in blocks_in_pages("baselines-brief")}
    assert ("classifier.md", "classifier-sweep") in full
    assert ("README.md", "classifier-sweep") in brief
    assert checked == len(full) + len(brief)


def test_the_committed_table_has_every_kind_of_row() -> None:
    rows = baseline_rows(ROOT / "docs/results/classifier-sweep/baselines.yaml", ROOT)
    labels = " ".join(r["label"] for r in rows)
    for kind in ("from scratch", "cached", "fine-tuned", "published"):
        assert kind in labels
    judged = {r["judged_on"] for r in rows}
    assert any("validation only" in j for j in judged)  # the 64 px row says what it is
    assert any("official **validation**" in j for j in judged)  # the official-split judgement
    for r in rows:  # every measured row carries its interval over seeds
        if r["from"].startswith("`") and r["melanoma_auc"] != "not finished":
            assert "[" in r["melanoma_auc"] and int(r["seeds"]) >= 3, r


def summary(mean: float, low: float, high: float, n: int = 3) -> dict:
    return {"mean": mean, "ci_low": low, "ci_high": high, "n": n}


def make_root(tmp_path: Path) -> Path:
    res = tmp_path / "docs" / "results"
    (res / "exp").mkdir(parents=True)
    (res / "sw").mkdir()
    (res / "exp" / "results.json").write_text(
        json.dumps(
            {
                "summary": {
                    "none": {
                        "melanoma_auc": summary(0.6, 0.55, 0.65, 5),
                        "keratosis_auc": summary(0.8, 0.7, 0.9, 5),
                    }
                }
            }
        )
    )
    val = {f"val_{k}": summary(0.71, 0.7, 0.72) for k in ("melanoma_auc", "keratosis_auc")}
    test = {k: summary(0.75, 0.74, 0.76) for k in ("melanoma_auc", "keratosis_auc")}
    sweep = {"summary": {"chosen": {**val, **test, "seconds_mean": 30.0}}}
    (res / "sw" / "cached.json").write_text(json.dumps(sweep))
    (res / "sw" / "valonly.json").write_text(
        json.dumps({"summary": {"a": {**val, "seconds_mean": 300.0}}})
    )
    progress = {
        "runs": [
            {"epochs_done": 2, "epochs": 6, "epoch_seconds": [600.0, 3000.0]},
            {"state": "not started"},
        ]
    }
    (res / "sw" / "ft-progress.json").write_text(json.dumps(progress))
    (res / "sw" / "baselines.yaml").write_text(
        "rows:\n"
        "  - {label: scratch, judged_on: t, experiment: docs/results/exp/results.json,"
        " strategy: none, brief: true}\n"
        "  - {label: cached, judged_on: t, sweep: docs/results/sw/cached.json,"
        " setting: chosen, split: test, brief: true}\n"
        "  - {label: val, judged_on: v, sweep: docs/results/sw/cached.json,"
        " setting: chosen, split: validation}\n"
        "  - {label: ft, judged_on: t, unfinished: docs/results/sw/ft-progress.json}\n"
        "  - {label: paper, judged_on: o, published: {melanoma_auc: 0.874}, source: P}\n"
    )
    return tmp_path


def test_rows_read_the_named_results(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    rows = baseline_rows(root / "docs/results/sw/baselines.yaml", root)
    assert [r["label"] for r in rows] == ["scratch", "cached", "val", "ft", "paper"]
    assert rows[0]["melanoma_auc"] == "0.600 [0.550, 0.650]" and rows[0]["seeds"] == "5"
    assert rows[1]["keratosis_auc"] == "0.750 [0.740, 0.760]" and rows[1]["cost"] == "30 s per run"
    assert rows[2]["melanoma_auc"] == "0.710 [0.700, 0.720]"  # the val_* keys
    assert rows[3]["melanoma_auc"] == "not finished" and rows[3]["seeds"] == "0 of 2"
    assert rows[3]["cost"] == "2 of 6 epochs in 1.0 h; a full epoch 50–50 min"
    assert rows[4]["melanoma_auc"] == "0.874" and rows[4]["keratosis_auc"] == "–"
    assert rows[1]["from"] == "`docs/results/sw/cached.json`" and rows[4]["from"] == "P"
    brief = render_baselines_markdown(root / "docs/results/sw/baselines.yaml", root, True)
    assert brief.splitlines()[0] == "| classifier | judged on | melanoma AUC | keratosis AUC |"
    assert len(brief.splitlines()) == 4


def test_a_stale_or_unbacked_block_is_caught(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    spec = root / "docs/results/sw/baselines.yaml"
    table = render_baselines_markdown(spec, root)
    page = root / "docs" / "classifier.md"
    page.write_text(f"# x\n\n<!-- baselines:sw -->\n{table}\n<!-- /baselines:sw -->\n")
    assert check_baselines(root) == (1, [])
    page.write_text(page.read_text().replace("0.600", "0.700"))
    checked, wrong = check_baselines(root)
    assert checked == 1 and "differs from the committed results" in wrong[0]
    (root / "README.md").write_text(
        "<!-- baselines-brief:gone -->\nx\n<!-- /baselines-brief:gone -->"
    )
    checked, wrong = check_baselines(root)
    assert checked == 2 and len(wrong) == 2  # the stale page, and the block without a spec
    assert wrong[1].startswith("README.md's baselines-brief:gone block has no")


def test_a_missing_file_or_metric_is_one_line(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    spec = root / "docs/results/sw/baselines.yaml"
    spec.write_text(
        spec.read_text()
        + "  - {label: v, judged_on: t, sweep: docs/results/sw/valonly.json, setting: a,"
        " split: test}\n"
    )
    with pytest.raises(DataError, match=r"no melanoma_auc \(was the sweep run with --test"):
        baseline_rows(spec, root)
    (root / "docs/results/exp/results.json").unlink()
    with pytest.raises(DataError, match=r"results\.json: no such results file"):
        baseline_rows(spec, root)
