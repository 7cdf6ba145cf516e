"""Issue 22, statistics: the coverage of the verdict's intervals, checked by simulation at the
verdict's design (``lesiongan report DIR --coverage``)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import numpy as np
import pytest

from lesiongan.experiments.coverage import (
    NullWorld,
    calibrate_separation,
    coverage_of,
    render_coverage_markdown,
    seed_to_image_ratio,
    simulated_ratio,
)
from lesiongan.experiments.stats import run_metric_rows

CLASSES = ["melanoma", "seborrheic_keratosis", "nevus"]


def _labels(n: int = 150) -> np.ndarray:
    return np.array([0] * (n // 5) + [1] * (n // 5) + [2] * (n - 2 * (n // 5)))


def _world(run_sd: float = 0.0, n_gen: int = 2, n_seeds: int = 5, n: int = 150) -> NullWorld:
    return NullWorld(_labels(n), 3, n_gen, n_seeds, np.array([0.8, 1.5, 1.0]), 0.3, run_sd)


def test_identical_runs_have_no_seed_spread_and_a_seed_shift_shows() -> None:
    ref, _ = _world().draw(np.random.default_rng(0))
    same = {(g, s): ref[s] for g in ("a", "b") for s in ref}
    assert seed_to_image_ratio(ref, same, CLASSES) is None  # no difference under any resample
    # every seed the same difference (one reference run, one cell run): no seed spread at all
    one_ref = {s: ref[0] for s in ref}
    one_cell = {(g, s): ref[1] for g in ("a", "b") for s in ref}
    assert seed_to_image_ratio(one_ref, one_cell, CLASSES) == 0.0
    # each seed's cell run: the reference's, its true-class scores raised by a seed-specific amount
    shifted = {}
    for g in ("a", "b"):
        for s, (ids, y, p) in ref.items():
            boost = np.where(np.eye(3)[y] > 0, 1 + 0.5 * (s - 2), 1.0)
            q = p * boost
            shifted[(g, s)] = (ids, y, q / q.sum(1, keepdims=True))
    assert seed_to_image_ratio(ref, shifted, CLASSES) > 1.0


def test_the_run_effect_raises_the_seed_to_image_ratio() -> None:
    low = simulated_ratio(_world(0.0), CLASSES, seed=0)
    high = simulated_ratio(_world(0.4), CLASSES, seed=0)
    assert high > 2 * low


def test_the_separation_is_calibrated_to_the_target_aucs() -> None:
    y, target = _labels(300), np.array([0.70, 0.86, 0.78])
    sep = calibrate_separation(y, 3, target, noise_sd=0.3)
    world = NullWorld(y, 3, 1, 1, sep, 0.3)
    rng = np.random.default_rng(1)
    aucs = []
    for _ in range(20):
        ref, _ = world.draw(rng)
        _, yy, p = ref[0]
        rows = run_metric_rows(yy, p, np.ones((1, yy.size)), CLASSES)
        aucs.append([rows[f"auc_{c}"][0] for c in CLASSES])
    assert np.allclose(np.mean(aucs, 0), target, atol=0.03)


def test_the_null_world_has_equal_expected_aucs() -> None:
    """The truth the coverage counts against is 0: over many worlds the mean difference is
    within a few Monte Carlo SEs of 0, even with a large run and generator effect."""
    world = _world(run_sd=0.5, n=600)
    rng = np.random.default_rng(2)
    diffs = []
    for _ in range(150):
        ref, other = world.draw(rng)
        ones = np.ones((1, 600))
        r = np.mean(
            [run_metric_rows(p[1], p[2], ones, CLASSES)["macro_auc"][0] for p in ref.values()]
        )
        o = np.mean(
            [run_metric_rows(p[1], p[2], ones, CLASSES)["macro_auc"][0] for p in other.values()]
        )
        diffs.append(o - r)
    assert abs(np.mean(diffs)) < 4 * np.std(diffs) / np.sqrt(len(diffs))


def test_few_seeds_and_a_large_run_effect_lose_bootstrap_coverage() -> None:
    """Constructed: with image noise alone the intervals cover about 95 %; when one generator
    and three seeds carry a large run effect, the percentile bootstrap misses far more often
    than 5 % (it sees three draws of the spread) and the t-interval holds better."""
    calm = coverage_of(_world(0.0, n_gen=1, n_seeds=3), CLASSES, n_sims=40, n_boot=300, seed=0)
    assert calm["macro_auc"]["bootstrap"]["coverage"] >= 0.85
    wild = coverage_of(_world(0.6, n_gen=1, n_seeds=3), CLASSES, n_sims=40, n_boot=300, seed=0)
    boot, t = wild["macro_auc"]["bootstrap"]["coverage"], wild["macro_auc"]["t"]["coverage"]
    assert boot <= 0.8 and t >= boot + 0.2  # margins of several worlds each
    assert wild["macro_auc"]["bootstrap"]["n"] == 40
    assert 0 < wild["macro_auc"]["bootstrap"]["mc_se"] < 0.1


def _write_export(root: Path, world: NullWorld) -> None:
    """An exported imbalance verdict whose runs are one draw of ``world``."""
    ref, other = world.draw(np.random.default_rng(3))
    runs = {}
    (root / "predictions").mkdir(parents=True)

    def write(key: str, strategy: str, gen: str, seed: int, preds: tuple) -> None:
        ids, y, p = preds
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(
            ["image_id", "split", "source", "label", "pred", *[f"prob_{c}" for c in CLASSES]]
        )
        for i, label, row in zip(ids, y, p, strict=True):
            w.writerow([i, "test", "real", CLASSES[label], CLASSES[row.argmax()], *row])
        name = f"predictions/{key.replace('/', '__')}.csv.gz"
        (root / name).write_bytes(gzip.compress(buf.getvalue().encode(), mtime=0))
        runs[key] = {
            "strategy": strategy,
            "generator": gen,
            "seed": seed,
            "metrics": {},
            "predictions": name,
        }

    for s, p in ref.items():
        write(f"class-weight/seed-{s}", "class-weight", "", s, p)
    for (g, s), p in other.items():
        write(f"synthetic-balance@unselected/{g}/seed-{s}", "synthetic-balance@unselected", g, s, p)
    (root / "runs.json").write_text(json.dumps({"inputs": {}, "runs": runs}))
    results = {
        "experiment": "imbalance",
        "classes": CLASSES,
        "reference": "class-weight",
        "calls": {"synthetic-balance@unselected": {}},
    }
    (root / "results.json").write_text(json.dumps(results))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_report_coverage_writes_the_study_and_refuses_to_overwrite(cli, tmp_path: Path) -> None:
    exp = tmp_path / "export"
    _write_export(exp, _world(0.2, n=120))
    code, stdout, stderr = cli("report", exp, "--coverage", "--simulations", 10)
    assert code == 0, stderr
    study = json.loads((exp / "coverage.json").read_text())
    assert study["design"] == {"n_generators": 2, "n_seeds": 5, "n_test_images": 120}
    assert [s["name"] for s in study["scenarios"]] == [
        "median over the cells",
        "largest of the cells",
        "twice the largest",
    ]
    assert study["scenarios"][2]["run_sd"] > 0  # a larger ratio than the noise alone gives
    for s in study["scenarios"]:
        assert s["coverage"]["macro_auc"]["bootstrap"]["n"] == 10
    assert render_coverage_markdown(study) in stdout
    before = (exp / "coverage.json").read_bytes()
    code, _, stderr = cli("report", exp, "--coverage", "--simulations", 10)
    assert code != 0 and "already exists (use --force" in stderr and "Traceback" not in stderr
    assert (exp / "coverage.json").read_bytes() == before


def test_report_coverage_of_a_scarcity_export_is_one_line(cli, tmp_path: Path) -> None:
    (tmp_path / "runs.json").write_text(json.dumps({"runs": {}}))
    (tmp_path / "results.json").write_text(json.dumps({"experiment": "scarcity"}))
    code, _, stderr = cli("report", tmp_path, "--coverage")
    assert code != 0 and "simulates an imbalance verdict" in stderr
    assert "Traceback" not in stderr and not (tmp_path / "coverage.json").exists()
