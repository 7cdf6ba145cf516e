"""Hair detector against the procedural ground truth; the hair command on procedural and real
images."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_helpers import clean_synthetic, dataset_images, write_synthetic

from lesiongan.evaluate.hair import compute_hair_mask, compute_hair_stats, pixel_precision_recall
from lesiongan.evaluate.hair_truth import render_with_hair_mask
from lesiongan.evaluate.run_hair import HairConfig, run_hair

CLASSES = ("melanoma", "seborrheic_keratosis", "nevus")


@pytest.fixture(scope="module")
def procedural_128():
    """36 procedural lesions at 128 px with their true hair masks."""
    out = [render_with_hair_mask(CLASSES[s % 3], s, 128) for s in range(36)]
    images = np.stack([o[0] for o in out])
    truth = np.stack([o[1] for o in out])
    has_hair = np.array([o[2]["hair"] for o in out])
    return images, truth, has_hair


def test_ground_truth_masks_match_the_attributes(procedural_128) -> None:
    _, truth, has_hair = procedural_128
    assert 5 <= has_hair.sum() <= 25
    assert not truth[~has_hair].any()
    assert truth[has_hair].any(axis=(1, 2)).mean() > 0.8  # a few hairs are too faint


def test_detector_finds_the_hair_pixels(procedural_128) -> None:
    images, truth, has_hair = procedural_128
    masks, _ = compute_hair_stats(images[has_hair])
    precision, recall = pixel_precision_recall(masks, truth[has_hair])
    assert precision > 0.5 and recall > 0.7, (precision, recall)


def test_statistics_separate_images_with_and_without_hair(procedural_128) -> None:
    from sklearn.metrics import roc_auc_score

    images, _, has_hair = procedural_128
    _, stats = compute_hair_stats(images)
    frac = np.array([s.hair_fraction for s in stats])
    length = np.array([s.hair_length for s in stats])
    # margin: measured 0.839 and 0.873 (a fixed filter on seeded images, nothing trained); bound
    # 0.8 leaves 0.039, about 12 of the image pairs swapping order
    assert roc_auc_score(has_hair, frac) > 0.8 and roc_auc_score(has_hair, length) > 0.8
    assert frac[has_hair].mean() > 4 * frac[~has_hair].mean()


def test_blobs_and_flat_skin_are_not_hair() -> None:
    img = np.full((96, 96, 3), 200, np.uint8)
    yy, xx = np.mgrid[:96, :96]
    img[(yy - 48) ** 2 + (xx - 48) ** 2 < 20**2] = 60  # a dark lesion
    img[(yy - 10) ** 2 + (xx - 80) ** 2 < 9] = 40  # a dot
    mask, stats = compute_hair_mask(img)
    assert not mask.any() and stats.hair_components == 0
    img[70, 5:90] = 30  # one thin dark line
    mask, stats = compute_hair_mask(img)
    assert stats.hair_components == 1 and mask[70, 10:85].all()
    assert stats.hair_length == pytest.approx(85 / 96, abs=0.1)


def test_run_hair_on_procedural_images(audit_data, tmp_path: Path) -> None:
    ds, other = audit_data
    syn = clean_synthetic(tmp_path / "syn", other)
    m = run_hair(ds, syn, tmp_path / "out", HairConfig())
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for key in ("hair_fraction_real_mean", "hair_fraction_synthetic_mean",
                "hair_fraction_wasserstein", "hair_fraction_wasserstein_floor"):  # fmt: skip
        assert isinstance(saved[key], float)
        for c in CLASSES:
            assert f"{key}_{c}" in saved or f"{key.removesuffix('_floor')}_{c}_floor" in saved
    assert saved["image_size_px"] == 32 == m["image_size_px"]
    for png in ("hair_fraction_hist.png", "hair_masks_real.png", "hair_masks_synthetic.png"):
        assert (tmp_path / "out" / png).stat().st_size > 1000
    lines = (tmp_path / "out" / "hair_stats.csv").read_text().splitlines()
    assert lines[0] == "set,image_id,label,hair_fraction,hair_components,hair_length"
    # images without any hair against the same images with a drawn hair: a clear difference
    _, labels, px = dataset_images(ds, "train")
    hairy = px.copy()
    hairy[:, 16, 2:30] = 20
    hairy_dir = write_synthetic(tmp_path / "hairy", labels, hairy)
    m2 = run_hair(ds, hairy_dir, tmp_path / "out2", HairConfig())
    assert m2["hair_presence_synthetic"] > 0.95
    assert m2["hair_fraction_wasserstein"] > 5 * m2["hair_fraction_wasserstein_floor"]


def test_run_hair_on_real_isic_images(isic_sample: Path, tmp_path: Path) -> None:
    from lesiongan.data.prepare import PrepareConfig, run_prepare

    run_prepare(isic_sample, tmp_path / "ds", PrepareConfig(size=128), workers=1)
    _, labels, px = dataset_images(tmp_path / "ds", "test")
    syn = write_synthetic(tmp_path / "syn", labels, px)  # real test images as stand-ins
    m = run_hair(tmp_path / "ds", syn, tmp_path / "out", HairConfig())
    assert m["n_real"] == 3 and m["image_size_px"] == 128
    assert 0 <= m["hair_fraction_real_mean"] < 0.1 and 0 <= m["hair_fraction_synthetic_mean"] < 0.1
