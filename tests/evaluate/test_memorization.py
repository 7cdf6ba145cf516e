"""Memorization: planted copies are flagged by every test, a clean set by none."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_helpers import dataset_images, plant_copies, write_synthetic

from lesiongan.evaluate.memorization import (
    CT_CELLS,
    CT_MIN_GENERATED,
    CT_PCA_DIMS,
    compute_authenticity,
    compute_ct,
    compute_ct_by_class,
)
from lesiongan.evaluate.neighbors import nearest_neighbors
from lesiongan.evaluate.run_memorization import MemorizationConfig, run_memorization


def test_exact_neighbours_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    q, r = rng.normal(size=(37, 9)), rng.normal(size=(53, 9))
    d, i = nearest_neighbors(q, r, 3, chunk=8)
    full = np.linalg.norm(q[:, None] - r[None], axis=2)
    np.testing.assert_array_equal(i, np.argsort(full, axis=1)[:, :3])
    np.testing.assert_allclose(d, np.sort(full, axis=1)[:, :3], rtol=1e-5)
    d, i = nearest_neighbors(r, r, 1, exclude_self=True)
    np.fill_diagonal(full_rr := np.linalg.norm(r[:, None] - r[None], axis=2), np.inf)
    np.testing.assert_array_equal(i[:, 0], full_rr.argmin(1))


def test_ct_sign_reads_copying_and_underfitting() -> None:
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(240, 4)), rng.normal(size=(120, 4))
    fresh = compute_ct(train, test, rng.normal(size=(120, 4)), n_cells=3)
    copies = compute_ct(train, test, train[:120] + rng.normal(0, 0.01, (120, 4)), n_cells=3)
    wide = compute_ct(train, test, rng.normal(size=(120, 4)) * 2.0, n_cells=3)
    assert abs(fresh.statistic) < 2 and fresh.n_cells_used == 3
    assert copies.statistic < -5 and copies.p_value < 1e-6
    assert wide.statistic > 3


def test_ct_is_computed_per_class_with_the_papers_cells() -> None:
    """Meehan et al.'s ImageNet-class setting: 64 principal components, 3 k-means cells per
    class, a cell counted with more than 20 generated samples; copies in one class show there."""
    assert (CT_CELLS, CT_MIN_GENERATED, CT_PCA_DIMS) == (3, 20, 64)
    rng = np.random.default_rng(3)
    classes = ["a", "b"]
    train = rng.normal(size=(400, 80))
    t_lab = np.repeat(classes, 200)
    test, p_lab = rng.normal(size=(200, 80)), np.repeat(classes, 100)
    gen = np.concatenate(
        [rng.normal(size=(150, 80)), train[200:350] + rng.normal(0, 0.01, (150, 80))]
    )
    q_lab = np.repeat(classes, 150)
    pooled, per = compute_ct_by_class((train, t_lab), (test, p_lab), (gen, q_lab), classes)
    assert abs(per["a"].statistic) < 2.5 and per["b"].statistic < -5
    assert per["a"].n_cells == per["b"].n_cells == 3 and pooled.n_cells_used == 6
    assert per["b"].statistic < pooled.statistic < per["a"].statistic
    # a cell with too few generated samples does not count (tau = 20 / m)
    few = compute_ct(train[:200], test[:100], gen[:50])
    assert few.n_cells_used < 3


def test_authenticity_ignores_an_images_own_flips() -> None:
    rng = np.random.default_rng(1)
    train = rng.normal(size=(100, 5))
    flipped = np.concatenate([train, train + 1e-3])  # every image twice, like a flip
    groups = np.tile(np.arange(100), 2)
    fresh, _ = compute_authenticity(flipped, rng.normal(size=(100, 5)), groups)
    copies, verdict = compute_authenticity(flipped, train[:50] + 1e-4, groups)
    assert fresh > 0.3 and copies == 0.0 and not verdict.any()


@pytest.fixture(scope="module")
def runs(audit_data, tmp_path_factory: pytest.TempPathFactory):
    ds, other = audit_data
    root = tmp_path_factory.mktemp("memo")
    _, clean_labels, clean_px = dataset_images(other, "train")
    train_ids, train_labels, train_px = dataset_images(ds, "train")
    labels, px, sources = plant_copies(clean_labels, clean_px, train_labels, train_px, 36)
    # a few dozen images per class: one C_T cell per class, counted from 5 generated samples
    cfg = MemorizationConfig(features="random", ct_cells=1, ct_min_generated=5)
    out = {}
    for name, (lab, images) in {"clean": (clean_labels, clean_px), "planted": (labels, px)}.items():
        syn = write_synthetic(root / f"syn-{name}", lab, images)
        out[name] = (run_memorization(ds, syn, root / f"out-{name}", cfg), root / f"out-{name}")
    return out, [train_ids[s] for s in sources]


def test_every_test_flags_planted_copies(runs) -> None:
    (m, out), source_ids = runs[0]["planted"], runs[1]
    # a third of the copies are flipped, which C_T does not undo (no flips on its training side)
    assert m["ct_statistic"] < -2 and m["ct_p_value"] < 0.01
    assert m["authenticity"] < m["authenticity_floor"] - 0.2
    assert m["nn_distance_ratio"] < 0.7 and m["nn_distance_ratio_pixel"] < 0.7
    assert m["n_near_duplicates"] == len(source_ids) == 36
    with open(out / "nearest_neighbors.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["set"] == "synthetic"]
    for row, src in zip(rows, source_ids):  # the planted copies come first
        assert row["pixel_nn_id"] == row["feature_nn_id"] == row["ssim_nn_id"] == src
        assert row["near_duplicate"] == "1"
    transforms = {r["pixel_nn_transform"] for r in rows[:36]}
    assert transforms == {"identity", "hflip", "vflip"}  # flips are found as flips
    with open(out / "near_duplicates.csv") as f:
        assert {r["pixel_nn_id"] for r in csv.DictReader(f)} == set(source_ids)


def test_a_clean_set_is_not_flagged(runs) -> None:
    m, out = runs[0]["clean"]
    assert abs(m["ct_statistic"]) < 2 and m["ct_p_value"] > 0.05
    assert m["authenticity"] > m["authenticity_floor"] - 0.1
    assert 0.85 < m["nn_distance_ratio"] < 1.2 and 0.85 < m["nn_distance_ratio_pixel"] < 1.2
    assert m["n_near_duplicates"] == 0
    assert (out / "near_duplicates.csv").read_text().count("\n") == 1  # header only


def test_outputs_and_keys(runs) -> None:
    _, out = runs[0]["clean"]
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("ct_statistic", "authenticity", "n_near_duplicates", "nn_distance_ratio"):
        assert isinstance(saved[key], int | float)
    assert saved["features"] == "random" and saved["flips"] is True
    assert saved["ct_train_flips"] is False
    for c in saved["classes"]:
        assert f"ct_statistic_{c}" in saved
    # C_T reads the training images alone, not their flipped copies
    f = {k: np.load(out / v) for k, v in saved["feature_files"].items()}
    labels = {}
    for name, csv_name in (
        ("real", "real"),
        ("reference", "reference"),
        ("synthetic", "synthetic"),
    ):
        rows = (out / saved["feature_files"][name]).with_suffix(".csv").read_text().splitlines()
        labels[name] = [r.split(",")[2] for r in rows[1:]]
        del csv_name
    pooled, _ = compute_ct_by_class(
        (f["real"], labels["real"]), (f["reference"], labels["reference"]),
        (f["synthetic"], labels["synthetic"]), saved["classes"], 1, 5, 0)  # fmt: skip
    assert pooled.statistic == pytest.approx(saved["ct_statistic"], rel=1e-9)
    assert set(saved["feature_files"]) == {
        "real", "real_hflip", "real_vflip", "real_rot180", "reference", "synthetic"}  # fmt: skip
    assert np.load(out / saved["feature_files"]["synthetic"]).shape[0] == saved["n_synthetic"]
    for png in ("nn_closest_pixel.png", "nn_closest_features.png", "nn_random.png",
                "nn_distances.png"):  # fmt: skip
        assert (out / png).stat().st_size > 1000
