"""Classifier image loading and the augmentation preset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lesiongan.classify.config import AugmentConfig
from lesiongan.classify.data import augment_batch, load_images, normalize
from lesiongan.classify.samplers import build_pool, build_sampler
from lesiongan.errors import DataError

OFF = dict(degrees=0, translate=0, scale=(1, 1), brightness=0, contrast=0, saturation=0, hue=0)


def _batch(n: int = 16, size: int = 12) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).integers(0, 256, (n, 3, size, size), np.uint8))


def test_identity_preset_only_rescales() -> None:
    x = _batch()
    y = augment_batch(x, AugmentConfig(flips=False, rot90=False, **OFF), torch.Generator())
    torch.testing.assert_close(y, x.float() / 255)


def test_flips_and_rotations_are_dihedral_and_mixed() -> None:
    x = _batch(64)
    y = augment_batch(x, AugmentConfig(**OFF), torch.Generator().manual_seed(1))
    changed = 0
    for a, b in zip(x.float() / 255, y):
        variants = [torch.rot90(v, k, (1, 2)) for v in (a, a.flip(2)) for k in range(4)]
        match = [torch.allclose(b, v) for v in variants]
        assert any(match)  # one of the 8 symmetries of the square, pixels untouched
        changed += not match[0]
    assert changed > 40  # about 7/8 of the images move


def test_augmentation_is_seeded_and_in_range() -> None:
    x, cfg = _batch(), AugmentConfig()
    a = augment_batch(x, cfg, torch.Generator().manual_seed(5))
    b = augment_batch(x, cfg, torch.Generator().manual_seed(5))
    c = augment_batch(x, cfg, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1 and a.dtype == torch.float32


def test_colour_jitter_keeps_grey_grey_without_hue_and_saturation() -> None:
    grey = torch.full((4, 3, 8, 8), 100, dtype=torch.uint8)
    cfg = AugmentConfig(flips=False, rot90=False, **{**OFF, "brightness": 0.3})
    y = augment_batch(grey, cfg, torch.Generator().manual_seed(0))
    assert torch.allclose(y[:, 0], y[:, 1], atol=1e-5) and torch.allclose(
        y[:, 1], y[:, 2], atol=1e-5
    )
    assert y.std(dim=(1, 2, 3)).max() < 1e-5 and y.mean(dim=(1, 2, 3)).std() > 0.01


def test_normalize_uses_imagenet_statistics() -> None:
    x = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert normalize(x).abs().max() < 1e-6


def test_load_images_resizes_and_names_bad_files(tmp_path) -> None:
    Image.new("RGB", (40, 40), (10, 20, 30)).save(tmp_path / "a.png")
    Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "b.png")
    out = load_images([tmp_path / "a.png", tmp_path / "b.png"], 16, workers=1)
    assert out.shape == (2, 3, 16, 16) and out.dtype == torch.uint8
    assert out[:, 0].float().mean() == pytest.approx(10, abs=1)
    (tmp_path / "c.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"c\.png: cannot read image"):
        load_images([tmp_path / "c.png"], 16, workers=1)


def test_soft_labels_calibrate_on_the_given_real_scores() -> None:
    pool = build_pool([0, 1, 1, 1], 2, synthetic_labels=[0, 0], synthetic_scores=[0.0, 10.0])
    sampler = build_sampler(pool, "synthetic-balance+soft-label", calibration=[1.0, 2.0, 3.0])
    t = sampler.targets([4, 5])
    np.testing.assert_allclose(t, [[0.5, 0.5], [1.0, 0.0]])  # below all real: uniform
    assert np.allclose(sampler.targets([0, 1]), [[1, 0], [0, 1]])  # real images stay one-hot
