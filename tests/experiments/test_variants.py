"""``experiment imbalance`` with synthetic variants: selection, CAS, the reference, the audit."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from lesiongan.errors import ConfigError
from lesiongan.experiments.config import ImbalanceConfig
from lesiongan.experiments.imbalance import plan_imbalance, run_imbalance
from lesiongan.experiments.verdict import render_verdict_markdown

TINY_GAN = {
    "config": "gan-tiny",
    "set": {"schedule.stabilize_kimg": 0.2, "schedule.fade_kimg": 0.2},
}


def _cfg(dataset: Path, **extra) -> ImbalanceConfig:
    data = {
        "dataset": str(dataset),
        "strategies": ["none", "oversample", "synthetic-balance"],
        "variants": [
            {"name": "all"},
            {"name": "d-score", "select": "d-score", "keep": 0.5},
            {"name": "clf", "select": "classifier", "keep": 0.5, "classifier": "oversample"},
        ],
        "cas": True,
        "audit": True,
        "audit_size": 64,  # the audit's ImageNet features at 64 px (cheap here)
        "seeds": [0, 1],
        "classify": {"image_size": 16, "epochs": 1, "batch_size": 8, "predict_train": False},
        "bootstrap": 100,
        "gan": TINY_GAN,
        "sample": {"per_class": {"melanoma": 6, "seborrheic_keratosis": 6}},
        **extra,
    }
    return ImbalanceConfig.model_validate(data)


@pytest.mark.slow
def test_variants_are_sampled_selected_compared_and_reported(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "exp"
    results = run_imbalance(_cfg(tiny_dataset), out)
    keys = set(results["strategies"])
    assert keys == {
        "none",
        "oversample",
        *(
            f"{s}@{v}"
            for s in ("synthetic-balance", "synthetic-only")
            for v in ("all", "d-score", "clf")
        ),
    }
    # each variant is its own synthetic directory; selected ones keep half of twice the images
    for name, select in (("all", None), ("d-score", "d-score"), ("clf", "classifier")):
        info = json.loads((out / "synthetic" / name / "synthetic.json").read_text())
        # CAS trains on synthetic images alone: every class is sampled
        assert info["counts"] == {"melanoma": 6, "seborrheic_keratosis": 6, "nevus": 6}
        sel = info["selection"]
        assert (sel or {}).get("method") == select
        if sel:
            assert sel["candidates"] == {"melanoma": 12, "seborrheic_keratosis": 12, "nevus": 12}
        with open(out / "synthetic" / name / "manifest.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 18 and ("select_score" in rows[0]) == bool(sel)
    audit = yaml.safe_load((out / "audit" / "clf" / "realism" / "config.yaml").read_text())
    assert audit["features"] == "imagenet" and audit["imagenet_size"] == 64
    clf_sel = json.loads((out / "synthetic" / "clf" / "synthetic.json").read_text())["selection"]
    assert clf_sel["classifier"] == str((out / "runs" / "oversample" / "seed-0").resolve())
    # the verdict's comparisons: against none and against the best real-only strategy, chosen
    # on the validation split (never on the test split)
    val = {s: results["validation"][s]["macro_auc"] for s in ("none", "oversample")}
    assert results["reference"] == max(val, key=val.get)
    assert "validation macro_auc" in results["reference_chosen_by"]
    assert set(results["calls"]) == {f"synthetic-balance@{v}" for v in ("all", "d-score", "clf")}
    assert set(results["paired_vs_reference"]) == keys - {results["reference"]}
    for v in ("all", "d-score", "clf"):
        entry = results["variants"][v]
        cas = entry["cas"]
        expect = [
            results["runs"][f"synthetic-only@{v}/seed-{s}"]["metrics"]["balanced_accuracy"]
            / results["runs"][f"none/seed-{s}"]["metrics"]["balanced_accuracy"]
            for s in (0, 1)
        ]
        assert cas["cas"] == pytest.approx(sum(expect) / 2)
        assert entry["realism"]["features"] == "imagenet" and entry["realism"]["fid_floor"] >= 0
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["variants"] == json.loads(json.dumps(results["variants"]))
    # the report and the verdict quoted in the docs read these results as they are
    html = (out / "report.html").read_text()
    assert 'id="variants-table"' in html and 'data-key="variants/clf/cas/cas"' in html
    verdict = render_verdict_markdown(on_disk)
    # 2 real-only rows, the 3 cells that add synthetic images with their calls, 3 CAS rows
    assert verdict.count("\n| `") == 2 + 3 + 3 and f"`{results['reference']}`" in verdict
    assert "Holm over the 3 cells" in verdict
    header = (out / "results.csv").read_text().splitlines()[0]
    assert "diff_vs_reference" in header and "diff_t_ci_low" in header
    # a re-run reuses everything
    events: list[tuple] = []
    run_imbalance(_cfg(tiny_dataset), out, on_cell=lambda *a: events.append(a))
    assert events and {e[1] for e in events} == {"reused"}


def test_variant_configs_are_checked(tiny_dataset: Path) -> None:
    with pytest.raises(ValueError, match="real-only strategy"):
        _cfg(
            tiny_dataset,
            variants=[{"name": "x", "select": "classifier", "keep": 0.5, "classifier": "cased"}],
        )
    with pytest.raises(ValueError, match="select and keep"):
        _cfg(tiny_dataset, variants=[{"name": "x", "select": "d-score"}])
    with pytest.raises(ValueError, match="distinct"):
        _cfg(tiny_dataset, variants=[{"name": "x"}, {"name": "x"}])
    with pytest.raises(ValueError, match="need the real-only baseline"):
        _cfg(tiny_dataset, strategies=["oversample", "synthetic-balance"])
    assert ConfigError  # the CLI turns these into one-line config errors


@pytest.mark.slow
def test_finetune_cells_are_chosen_on_validation_after_the_others(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    """``finetune: {cells: [reference, best-synthetic]}``: once every other cell has finished,
    the reference real-only strategy and the synthetic cell with the best validation macro AUC
    run again with the finetune settings (``ft-`` runs), compared with the fine-tuned reference."""
    plain = _cfg(tiny_dataset, variants=[{"name": "all"}], cas=False, audit=False)
    finetune = {"cells": ["reference", "best-synthetic"], "seeds": [0], "classify": {"epochs": 2}}
    cfg = _cfg(tiny_dataset, variants=[{"name": "all"}], cas=False, audit=False, finetune=finetune)
    out = tmp_path / "exp"
    run_imbalance(plain, out)  # first without the block: a finished experiment takes it later
    done = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("metrics.json")}
    results = run_imbalance(cfg, out)
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())  # the other cells reused
    assert yaml.safe_load((out / "config.yaml").read_text())["finetune"]["cells"] == [
        "reference",
        "best-synthetic",
    ]
    val = results["validation"]
    ref, best = results["reference"], "synthetic-balance@all"  # the only synthetic cell
    assert results["finetune_chosen"] == {"reference": ref, "best-synthetic": best}
    assert ref == max(("none", "oversample"), key=lambda s: val[s]["macro_auc"])
    assert results["finetune"]["reference"] == f"ft-{ref}"
    assert set(results["finetune"]["paired_vs_reference"]) == {f"ft-{best}"}
    ft = yaml.safe_load((out / "runs" / f"ft-{best}" / "seed-0" / "config.yaml").read_text())
    assert ft["epochs"] == 2 and ft["strategy"] == "synthetic-balance"
    assert not (out / "runs" / f"ft-{ref}" / "seed-1").exists()  # finetune.seeds only
    assert f"best-synthetic = `{best}`" in render_verdict_markdown(results)
    # the choice waits for the cells it is made from: planned again from scratch, it is deferred
    fresh = plan_imbalance(cfg, tmp_path / "fresh")
    assert fresh.deferred and not any(j.key.startswith("ft-") for j in fresh.jobs)


def test_finetune_names_are_checked(tiny_dataset: Path) -> None:
    with pytest.raises(ValueError, match="not a run of this experiment"):
        _cfg(tiny_dataset, finetune={"cells": ["best-real"]})
    with pytest.raises(ValueError, match="finetune needs variants"):
        _cfg(tiny_dataset, variants=[], sample={"synthetic": "x"}, finetune={"cells": ["none"]})


def test_a_variant_may_sample_its_own_counts(tiny_dataset: Path, tmp_path: Path) -> None:
    """``variants[].per_class`` overrides ``sample.per_class`` for that set only (a selected set
    whose strategies need no more than balance); ``balance`` fills every class up to the largest."""
    cfg = _cfg(
        tiny_dataset,
        variants=[
            {"name": "all"},
            {"name": "few", "select": "d-score", "keep": 0.5, "per_class": {"melanoma": 3}},
            {"name": "bal", "select": "d-score", "keep": 0.5, "per_class": "balance"},
        ],
        cas=False,  # (CAS would give every class as many as the neediest one)
        audit=False,
        sample={"per_class": {"melanoma": 6, "seborrheic_keratosis": 6, "nevus": 6}},
    )
    tasks = {j.key: j.task for j in plan_imbalance(cfg, tmp_path / "exp").jobs}
    per_class = {k: t.config.per_class for k, t in tasks.items() if k.startswith("sample/")}
    assert per_class["sample/all"] == {"melanoma": 6, "seborrheic_keratosis": 6, "nevus": 6}
    assert per_class["sample/few"] == {"melanoma": 3}
    counts = json.loads((tiny_dataset / "dataset.json").read_text())["counts"]["train"]
    largest = max(counts.values())
    assert per_class["sample/bal"] == {c: largest - n for c, n in counts.items() if n < largest}
