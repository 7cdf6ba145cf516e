"""Realism metrics: pinned values, monotonic in a degradation, and the command's output."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
import itertools

from eval_helpers import clean_synthetic, dataset_images, write_synthetic

from lesiongan.evaluate.diversity import compute_class_ms_ssim, ms_ssim_scales
from lesiongan.evaluate.realism import (
    bootstrap_fid,
    compute_fid,
    compute_kid,
    compute_prdc,
    fid_infinity,
)
from lesiongan.evaluate.run_realism import RealismConfig, run_realism
from lesiongan.evaluate.swd import compute_swd, pyramid_levels

FAST = {"features": "random", "kid_subsets": 10, "ms_ssim_pairs": 50, "max_images": 40}


@pytest.mark.parametrize(("n", "m", "d"), [(40, 30, 64), (300, 200, 16)])
def test_fid_matches_torch_fidelity(n: int, m: int, d: int) -> None:
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(m, d)) * 1.2 + 0.3
    stats = [{"mu": x.mean(0), "sigma": np.cov(x, rowvar=False)} for x in (a, b)]
    ref = fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]
    assert compute_fid(a, b) == pytest.approx(ref, rel=1e-6)
    assert compute_fid(a, a) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("whole", [True, False])
@pytest.mark.parametrize(("n", "m", "subsets"), [(70, 50, 7), (40, 40, 3), (1200, 30, 4)])
def test_kid_matches_torch_fidelity(n: int, m: int, subsets: int, whole: bool, monkeypatch) -> None:
    """Same estimator, same subset draws: torch-fidelity's mean and std, with the kernels kept
    whole and computed per subset (large sets)."""
    import torch
    from torch_fidelity.metric_kid import kid_features_to_metric

    import lesiongan.evaluate.realism as realism

    monkeypatch.setattr(realism, "KID_SUBSET_SIZE", 25 if n == 1200 else 1000)
    monkeypatch.setattr(realism, "KID_WHOLE_KERNEL_MAX", 10_000 if whole else 10)
    rng = np.random.default_rng(n + m)
    real, fake = rng.normal(size=(n, 12)), rng.normal(size=(m, 12)) * 1.2 + 0.3
    size = min(realism.KID_SUBSET_SIZE, n, m)
    ref = kid_features_to_metric(
        torch.from_numpy(real),
        torch.from_numpy(fake),
        kid_subsets=subsets,
        kid_subset_size=size,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
        rng_seed=5,
        verbose=False,
    )
    mean, std = realism.compute_kid(real, fake, seed=5, subsets=subsets)
    assert mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-9, abs=1e-12)
    assert std == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-7, abs=1e-12)
    assert mean > 0.05  # the sets differ: a KID that could not move would fail here


def test_identical_sets_are_perfect_and_prdc_matches_its_definition() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 8))
    # The same sample on both sides: the unbiased estimator (Binkowski et al.) keeps the
    # self-pairs in the cross term, so it gives exactly -2/m (mean k(x, x) - mean k(x, y)).
    k = (x @ x.T / 8 + 1) ** 3
    off = (k.sum() - np.trace(k)) / (60 * 59)
    kid_mean, kid_std = compute_kid(x, x, subsets=5)
    assert kid_mean == pytest.approx(-2 / 60 * (np.trace(k) / 60 - off), rel=1e-9)
    assert kid_std < 1e-9
    assert compute_kid(x, rng.normal(size=(60, 8)) + 0.5, subsets=5)[0] > 0.5
    assert compute_prdc(x, x) == {"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0}
    # far-away fakes: nothing inside the real manifold
    far = compute_prdc(x, x + 100)
    assert far["precision"] == 0 and far["recall"] == 0 and far["coverage"] == 0
    assert np.isnan(compute_prdc(x[:4], x[:4])["precision"])  # too few for k = 3


def test_prdc_matches_the_reference_package() -> None:
    prdc = pytest.importorskip("prdc")
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(80, 6)), rng.normal(size=(50, 6)) * 1.3 + 0.2
    mine = compute_prdc(real, fake)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        pr = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=3)
        dc = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
    for key, ref in (("precision", pr), ("recall", pr), ("density", dc), ("coverage", dc)):
        assert mine[key] == pytest.approx(float(ref[key]), abs=1e-12), key


def test_fid_kid_grow_monotonically_with_a_shift(audit_data) -> None:
    import torch

    from lesiongan.evaluate.features import build_random, compute_features

    _, _, px = dataset_images(audit_data[0], "train")
    ex = build_random(torch.device("cpu"))
    real = compute_features(ex, px)
    fids, kids = [], []
    for shift in (0, 8, 16, 32, 64):
        moved = np.clip(px.astype(int) + shift, 0, 255).astype(np.uint8)
        f = compute_features(ex, moved)
        fids.append(compute_fid(real, f))
        kids.append(compute_kid(real, f, subsets=5)[0])
    assert fids[0] < 1e-6 and all(a < b for a, b in itertools.pairwise(fids))
    assert all(a < b for a, b in itertools.pairwise(kids))


def test_swd_is_near_zero_for_identical_sets_and_grows_with_blur(audit_data) -> None:
    _, _, px = dataset_images(audit_data[0], "train")
    assert pyramid_levels(32) == [32, 16] and pyramid_levels(256)[-1] == 16
    swd = [compute_swd(px, px)["swd"]]
    for sigma in (0.5, 1.0, 2.0):
        blurred = ndimage.gaussian_filter(px.astype(np.float32), (0, sigma, sigma, 0))
        swd.append(compute_swd(px, blurred.round().astype(np.uint8))["swd"])
    assert swd[0] < 0.2 * swd[1]
    assert all(a < b for a, b in itertools.pairwise(swd))
    assert set(compute_swd(px, px)) == {"swd", "swd_level_32px", "swd_level_16px"}


def test_ms_ssim_scales_and_mode_collapse() -> None:
    assert [ms_ssim_scales(s) for s in (16, 32, 64, 128, 256)] == [1, 2, 3, 4, 5]
    rng = np.random.default_rng(0)
    diverse = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    base = ndimage.gaussian_filter(diverse[0].astype(float), (2, 2, 0))
    collapsed = np.clip(base + rng.normal(0, 4, (20, 32, 32, 3)), 0, 255).astype(np.uint8)
    low = compute_class_ms_ssim(diverse, 40, np.random.default_rng(1))
    high = compute_class_ms_ssim(collapsed, 40, np.random.default_rng(1))
    assert high > 0.5 > low


def test_run_realism_writes_every_key_and_the_features(audit_data, tmp_path: Path) -> None:
    ds, other = audit_data
    syn = clean_synthetic(tmp_path / "syn", other)
    m = run_realism(ds, syn, tmp_path / "out", RealismConfig(**FAST))
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    classes = ["melanoma", "seborrheic_keratosis", "nevus"]
    for key in ("fid", "fid_ci_low", "fid_ci_high", "kid_mean", "kid_std", "precision", "recall",
                "density", "coverage", "swd", "ms_ssim"):  # fmt: skip
        assert isinstance(saved[key], float) and isinstance(saved[f"{key}_floor"], float)
        for c in classes:
            assert f"{key}_{c}" in saved and f"{key}_{c}_floor" in saved
    assert saved["features"] == "random" and saved["floor_method"] == "test-vs-train"
    assert saved["fid_ci_low"] <= saved["fid"] <= saved["fid_ci_high"]
    assert np.isfinite(saved["fid_inf"]) and np.isfinite(saved["fid_inf_floor"])
    # equal n: per class the smaller of the synthetic and the floor's real images
    test_labels = dataset_images(ds, "test")[1]
    for c in classes:
        assert saved[f"n_{c}"] == min(saved[f"n_synthetic_{c}"], saved[f"n_floor_pool_{c}"])
        assert 2 <= saved[f"n_floor_pool_{c}"] <= test_labels.count(c)
    assert saved["n"] == sum(saved[f"n_{c}"] for c in classes)
    files = saved["feature_files"]
    real = np.load(tmp_path / "out" / files["real"])
    fake = np.load(tmp_path / "out" / files["synthetic"])
    with open(tmp_path / "out" / saved["compared_images"]) as f:
        compared = list(csv.DictReader(f))
    rows = sorted(int(r["row"]) for r in compared if r["side"] == "synthetic")
    assert len(rows) == saved["n"] == sum(r["side"] == "floor" for r in compared)
    assert real.shape == (saved["n_real"], 387) and fake.shape[0] == saved["n_synthetic"]
    assert compute_fid(real, fake[rows]) == pytest.approx(saved["fid"], rel=1e-9)
    for png in ("metrics_vs_floor.png", "feature_pca.png", "real_vs_synthetic.png"):
        assert (tmp_path / "out" / png).stat().st_size > 1000
    assert (tmp_path / "out" / "config.yaml").is_file()
    assert (tmp_path / "out" / "provenance.json").is_file()
    # copies of the reference images: every one inside the real manifold, FID below the floor
    _, labels, px = dataset_images(ds, "train")
    same = write_synthetic(tmp_path / "same", labels, px)
    m2 = run_realism(ds, same, tmp_path / "out2", RealismConfig(**FAST))
    assert m2["precision"] == 1.0 and m2["fid"] < 0.5 * m2["fid_floor"]
    assert m2["swd"] < m2["swd_floor"] and m2["swd"] < m["swd"]
    m3 = run_realism(ds, syn, tmp_path / "out4", RealismConfig(**FAST, floor="halves"))
    assert m3["floor_method"] == "train-halves" and m3["n_real"] < m["n_real"]
    # deterministic: same command and seed, same numbers
    run_realism(ds, syn, tmp_path / "out3", RealismConfig(**FAST))
    assert (tmp_path / "out3" / "metrics.json").read_text() == json.dumps(saved, indent=2) + "\n"


def test_fid_interval_narrows_with_n_and_fid_infinity_removes_the_bias() -> None:
    """Two Gaussians a known distance apart (equal covariances: FID = |delta|^2 = 0.5). At 400
    images in 32 dimensions FID overshoots by more than twice that; FID-infinity lands near it."""
    rng = np.random.default_rng(0)
    d = 32
    real = rng.normal(size=(5000, d))
    delta = np.full(d, 0.125)
    fake = rng.normal(size=(400, d)) + delta
    true = float(delta @ delta)
    at_n = compute_fid(real, fake)
    assert at_n > 2 * true
    assert abs(fid_infinity(real, fake) - true) < 0.5 * (at_n - true)
    low, high = bootstrap_fid(real, fake, 100)
    low_small, high_small = bootstrap_fid(real, fake[:100], 100)
    assert low < at_n < high and low_small < compute_fid(real, fake[:100]) < high_small
    assert high - low < 0.5 * (high_small - low_small)
    assert np.isnan(bootstrap_fid(real, fake, 0)[0])


def test_real_features_are_computed_once_for_every_audit(
    audit_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like the points of a training curve: two audits of the same dataset embed its real
    images once; the second computes the features of its own synthetic images only."""
    from lesiongan.evaluate import feature_cache

    ds, other = audit_data
    cfg = RealismConfig(**FAST, cache=str(tmp_path / "cache"), fid_bootstrap=0)
    run_realism(ds, clean_synthetic(tmp_path / "a", other), tmp_path / "ra", cfg)
    computed: list[int] = []
    real_compute = feature_cache.compute_features

    def counting(extractor, pixels, *a, **k):
        computed.append(len(pixels))
        return real_compute(extractor, pixels, *a, **k)

    monkeypatch.setattr(feature_cache, "compute_features", counting)
    _, labels, px = dataset_images(other, "test")
    m = run_realism(ds, write_synthetic(tmp_path / "b", labels, px), tmp_path / "rb", cfg)
    assert computed == [m["n_synthetic"]]
