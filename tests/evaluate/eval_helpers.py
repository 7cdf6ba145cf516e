"""Helpers for the audit tests: procedural datasets and synthetic directories built from images.

The "clean synthetic" sets are procedural images drawn with another seed (different lesions of
the same distribution), not GAN samples: a GAN this small would be far from the data and prove
nothing about false alarms.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from lesiongan.data.manifest import load_dataset
from lesiongan.data.prepare import PrepareConfig, run_prepare
from lesiongan.data.synth import SynthConfig, run_synth

SHA = "ab" * 32


def make_dataset(root: Path, n: int = 90, size: int = 32, seed: int = 0, test: float = 0.4) -> Path:
    """A prepared procedural dataset (train/test, three classes) at ``size`` px."""
    run_synth(root / f"src-{seed}", SynthConfig(n=n, size=max(32, size), seed=seed), workers=1)
    out = root / f"ds-{seed}"
    run_prepare(root / f"src-{seed}", out, PrepareConfig(size=size, test_fraction=test), workers=1)
    return out


def dataset_images(ds: Path, split: str) -> tuple[list[str], list[str], np.ndarray]:
    """(ids, labels, uint8 NHWC) of one split."""
    d = load_dataset(ds)
    rows = d.split_rows(split)
    px = np.stack([np.asarray(Image.open(d.image_path(r)).convert("RGB")) for r in rows])
    return [r.image_id for r in rows], [r.label for r in rows], px


def write_synthetic(root: Path, labels: list[str], images: np.ndarray) -> Path:
    """A synthetic directory in the ``gan sample`` layout holding ``images``."""
    (root / "images").mkdir(parents=True)
    with open(root / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["image_id", "label", "path", "seed", "checkpoint_sha256", "d_score"])
        for i, (label, img) in enumerate(zip(labels, images)):
            path = f"images/syn_{i:05d}.png"
            Image.fromarray(img).save(root / path)
            w.writerow([f"syn_{i:05d}", label, path, i, SHA, 0.0])
    (root / "gan_train_images.csv").write_text(f"image_id,source_sha256\nx,{SHA}\n")
    return root


def clean_synthetic(root: Path, other_ds: Path, split: str = "train") -> Path:
    """Synthetic stand-ins: the images of another procedural dataset (another seed)."""
    _, labels, px = dataset_images(other_ds, split)
    return write_synthetic(root, labels, px)


def plant_copies(
    clean_labels: list[str],
    clean_px: np.ndarray,
    train_labels: list[str],
    train_px: np.ndarray,
    n_copies: int,
    seed: int = 0,
) -> tuple[list[str], np.ndarray, list[int]]:
    """Replace the first ``n_copies`` clean images by training images with slight noise or a
    flip; returns labels, pixels and the source training index of each planted copy."""
    rng = np.random.default_rng(seed)
    labels, px = list(clean_labels), clean_px.copy()
    sources = rng.choice(len(train_px), n_copies, replace=False).tolist()
    for k, src in enumerate(sources):
        img = train_px[src].astype(np.float32)
        if k % 3 == 0:
            img = img[:, ::-1]  # horizontal flip
        elif k % 3 == 1:
            img = img[::-1]  # vertical flip
        img = img + rng.normal(0, 3.0, img.shape)  # slight noise (about 1 % of the range)
        px[k] = np.clip(img, 0, 255).astype(np.uint8)
        labels[k] = train_labels[src]
    return labels, px, sources
