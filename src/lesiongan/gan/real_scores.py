"""The discriminator's scores of the GAN's own real training images (``real_scores.csv``).

Soft labels for synthetic images (``classify train --strategy ...+soft-label``) map a synthetic
image's ``d_score`` to a confidence by where it falls among the scores D gives real images of
the training set; those real scores are computed here, at sampling time, with the same
checkpoint and the same fixed-companion scoring as the synthetic images
(:func:`lesiongan.gan.sample.score_images`), so both sides of the comparison are alike.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import torch

from lesiongan.data.images import read_prepared
from lesiongan.data.manifest import PreparedDataset, load_dataset, split_fingerprint
from lesiongan.errors import LesionganError

log = logging.getLogger(__name__)
REAL_SCORES = "real_scores.csv"
REAL_SCORE_COLUMNS = ("image_id", "label", "source_sha256", "d_score")


def find_training_rows(run_dir: Path) -> tuple[list, PreparedDataset] | str:
    """The dataset rows the GAN trained on, and the dataset; or why they are unavailable."""
    info = json.loads((run_dir / "run.json").read_text())
    dataset = Path(info.get("dataset") or "")
    if not (dataset / "manifest.csv").is_file():
        return f"the GAN's dataset {dataset} is not there any more"
    try:
        ds = load_dataset(dataset)
    except LesionganError as exc:
        return f"the GAN's dataset cannot be read ({exc})"
    if split_fingerprint(ds.rows, "train") != info.get("train_split_fingerprint"):
        return f"the train split of {dataset} changed since the GAN was trained"
    with open(run_dir / "train_images.csv", newline="", encoding="utf-8") as f:
        seen = {row["image_id"] for row in csv.DictReader(f)}
    rows = [r for r in ds.split_rows("train") if r.image_id in seen]
    if len(rows) != len(seen):
        return f"{len(seen) - len(rows)} of the GAN's training images are missing from {dataset}"
    return rows, ds


def score_training_images(gan, run_dir: Path, batch_size: int) -> list[list] | str:
    """Rows of ``real_scores.csv`` for every image the GAN trained on, or why not."""
    from lesiongan.gan.sample import score_images

    found = find_training_rows(run_dir)
    if isinstance(found, str):
        log.warning("real_scores.csv not written: %s (soft labels will be unavailable)", found)
        return found
    rows, ds = found
    device = next(gan.D.parameters()).device
    out: list[list] = []
    for start in range(0, len(rows), batch_size):
        part = rows[start : start + batch_size]
        pixels = [read_prepared(ds.image_path(r), gan.resolution) for r in part]
        x = torch.from_numpy(np.stack(pixels)).float().div(127.5).sub(1)
        labels = [gan.classes.index(r.label) for r in part]
        with torch.no_grad():
            scores = score_images(gan, x.to(device), labels).cpu().tolist()
        out += [[r.image_id, r.label, r.source_sha256, f"{s:.6g}"] for r, s in zip(part, scores)]
    return out


def write_real_scores(path: Path, rows: list[list]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(REAL_SCORE_COLUMNS)
        w.writerows(rows)
