"""A synthetic-image directory in DESIGN.md's format, made without a GAN (procedural lesions)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from lesiongan.data.manifest import load_dataset
from lesiongan.data.procedural import render_lesion


def make_synthetic_dir(
    out: Path,
    dataset: Path,
    per_class: dict[str, int],
    size: int = 16,
    seed: int = 123,
    gan_images: str = "train",
    real_scores: bool = True,
) -> Path:
    """Procedural images of a fresh seed, with d_score rising with the image index.

    ``gan_images``: which dataset split the pretend GAN trained on (``test`` plants leakage).
    """
    ds = load_dataset(dataset)
    rng = np.random.default_rng(seed)
    (out / "images").mkdir(parents=True)
    rows = []
    for label, n in per_class.items():
        for k in range(n):
            img, _ = render_lesion(label, rng, 64, 64)
            image_id = f"SYN_{label[:3]}_{k:04d}"
            rel = f"images/{image_id}.png"
            Image.fromarray(img).resize((size, size), Image.Resampling.BOX).save(out / rel)
            rows.append([image_id, label, rel, seed * 1000 + len(rows), "0" * 64, k - n / 2])
    with open(out / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "label", "path", "seed", "checkpoint_sha256", "d_score"])
        w.writerows(rows)
    trained = ds.split_rows(gan_images)
    with open(out / "gan_train_images.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "label", "source_sha256"])
        w.writerows([r.image_id, r.label, r.source_sha256] for r in trained)
    if real_scores:
        with open(out / "real_scores.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image_id", "label", "source_sha256", "d_score"])
            w.writerows(
                [r.image_id, r.label, r.source_sha256, i % 7 - 3] for i, r in enumerate(trained)
            )
    info = {"format": "lesiongan-synthetic-v1", "resolution": size, "classes": list(ds.classes)}
    (out / "synthetic.json").write_text(json.dumps(info))
    return out
