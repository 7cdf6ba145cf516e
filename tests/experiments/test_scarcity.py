"""``experiment scarcity``: nested stratified fractions, and no label outside a fraction reaches
the GAN trained for it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from lesiongan.data.manifest import load_dataset
from lesiongan.errors import ConfigError
from lesiongan.experiments.config import ScarcityConfig
from lesiongan.experiments.scarcity import nested_fractions, run_scarcity


def test_fractions_are_nested_stratified_and_seeded() -> None:
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 4
    subsets = nested_fractions(labels, [0.1, 0.5, 1.0], seed=3)
    small, half, full = (set(subsets[f].tolist()) for f in (0.1, 0.5, 1.0))
    assert small <= half <= full and len(full) == len(labels)
    counts = {c: sum(labels[i] == c for i in subsets[0.5]) for c in "abc"}
    assert counts == {"a": 25, "b": 15, "c": 2}
    assert sum(labels[i] == "c" for i in subsets[0.1]) == 1  # every class keeps one image
    again = nested_fractions(labels, [0.1, 0.5, 1.0], seed=3)
    other = nested_fractions(labels, [0.1, 0.5, 1.0], seed=4)
    assert np.array_equal(again[0.5], subsets[0.5]) and not np.array_equal(other[0.5], subsets[0.5])


def test_reusing_a_gan_is_refused() -> None:
    with pytest.raises(ValueError, match="each fraction's GAN"):
        ScarcityConfig.model_validate({"dataset": "x", "gan": {"run": "some-run"}})
    with pytest.raises(ValueError, match="not in fractions"):
        ScarcityConfig.model_validate({"dataset": "x", "gan_runs": {0.3: ["r"]}})


@pytest.mark.slow
def test_scarcity_gan_sees_only_its_fraction(tiny_dataset: Path, tmp_path: Path, cli) -> None:
    cfg = ScarcityConfig.model_validate(
        {
            "dataset": str(tiny_dataset),
            "fractions": [0.5, 1.0],
            "seeds": [0],
            "strategies": ["none", "synthetic-balance"],
            "classify": {"image_size": 16, "epochs": 1, "batch_size": 8},
            "bootstrap": 100,
            "oracle": True,
            "gan": {
                "config": "gan-tiny",
                "set": {"schedule.stabilize_kimg": 0.1, "schedule.fade_kimg": 0.1},
            },
        }
    )
    out = tmp_path / "exp"
    results = run_scarcity(cfg, out)
    parent_train = {r.image_id for r in load_dataset(tiny_dataset).split_rows("train")}
    for f in (0.5, 1.0):
        sub = load_dataset(out / "data" / f"frac-{f:g}")
        fraction_train = {r.image_id for r in sub.split_rows("train")}
        with open(out / f"frac-{f:g}" / "gan" / "train_images.csv", newline="") as fh:
            gan_saw = {row["image_id"] for row in csv.DictReader(fh)}
        assert gan_saw == fraction_train and fraction_train <= parent_train
        assert sub.split_rows("test") == load_dataset(tiny_dataset).split_rows("test")
    assert len(fraction_train) == len(parent_train)  # 100 % is the whole train split
    small = {p["n_train"] for p in results["curve"] if p["fraction"] == 0.5}
    assert small == {sum(1 for _ in load_dataset(out / "data" / "frac-0.5").split_rows("train"))}
    strategies = {(p["fraction"], p["strategy"]) for p in results["curve"]}
    assert strategies == {
        (0.5, "none"),
        (0.5, "synthetic-balance@gan"),
        (0.5, "synthetic-balance@oracle"),  # the left-out half, in place of synthetic images
        (1.0, "none"),
        (1.0, "synthetic-balance@gan"),  # nothing left out at 100 %: no oracle
    }
    # the oracle holds exactly the train images the fraction left out, as a synthetic set
    from lesiongan.data.synthetic import load_synthetic

    oracle = load_synthetic(out / "frac-0.5" / "oracle")
    half = {r.image_id for r in load_dataset(out / "data" / "frac-0.5").split_rows("train")}
    assert {r.image_id for r in oracle.rows} == parent_train - half
    assert all(r.d_score is None for r in oracle.rows)
    # the reference is chosen per fraction on validation, and every synthetic cell gets a call
    p = results["per_fraction"]["frac-0.5"]
    assert p["reference"] == "none" and "validation macro_auc" in p["reference_chosen_by"]
    assert set(p["paired_vs_reference"]) == {"synthetic-balance@gan", "synthetic-balance@oracle"}
    assert set(results["calls"]) == {
        "frac-0.5/synthetic-balance@gan",
        "frac-1/synthetic-balance@gan",
    }
    saved = json.loads((out / "results.json").read_text())
    assert saved["curve"] == json.loads(json.dumps(results["curve"]))
    html = (out / "report.html").read_text()
    assert "Scarcity curve" in html and html.count("data:image/png;base64,") >= 2
    # exported: every derived number comes back from the runs' predictions alone
    code, stdout, stderr = cli("report", out, "--export", tmp_path / "export")
    assert code == 0, stderr
    code, stdout, stderr = cli("report", tmp_path / "export", "--check")
    assert code == 0, stderr
    # each fraction's generator is named with the sha256 of the checkpoint that was sampled
    inputs = json.loads((tmp_path / "export" / "runs.json").read_text())["inputs"]
    assert set(inputs["generators"]) == {"frac-0.5/gan", "frac-1/gan"}
    for g in inputs["generators"].values():
        assert len(g["checkpoint_sha256"]) == 64 and g["kimg"] > 0
    code, stdout, _ = cli("report", tmp_path / "export", "--markdown")
    assert code == 0 and "synthetic-balance@oracle" in stdout and "Holm" in stdout


def test_bad_fractions_are_config_errors(tmp_path: Path) -> None:
    from lesiongan.config import load_config

    bad = tmp_path / "s.yaml"
    bad.write_text("dataset: x\nfractions: [0, 0.5]\n")
    with pytest.raises(ConfigError, match="fractions"):
        load_config(ScarcityConfig, bad)


def test_fraction_dataset_is_a_stage_and_a_stray_temporary_does_not_block(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    """A run stopped while writing a fraction dataset leaves a temporary sibling; the re-run
    removes it and completes (the old bare mkdir + rename died with FileExistsError)."""
    import subprocess
    import sys

    from lesiongan.experiments.scarcity import write_fraction_dataset
    from lesiongan.utils.stage import ConfigChangedError

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = tmp_path / "data" / "frac-0.5"
    stray = out.parent / f".frac-0.5.tmp-{int(dead.stdout)}-0badc0de"
    stray.mkdir(parents=True)
    (stray / "manifest.csv").write_text("half")
    keep = np.arange(0, 36, 2)
    assert write_fraction_dataset(tiny_dataset, out, keep, 0.5) == out
    assert not stray.exists()
    assert len(load_dataset(out).split_rows("train")) == len(keep)
    before = (out / "manifest.csv").stat().st_mtime_ns
    write_fraction_dataset(tiny_dataset, out, keep, 0.5)  # equal: reused, not rewritten
    assert (out / "manifest.csv").stat().st_mtime_ns == before
    with pytest.raises(ConfigChangedError, match="train_ids_sha256"):
        write_fraction_dataset(tiny_dataset, out, keep[:-1], 0.5)
