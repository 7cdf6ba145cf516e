"""Selection of synthetic images at sampling time: score every candidate, keep the best share.

``gan sample --select METHOD --keep F`` draws ``ceil(n / F)`` candidates per class and keeps the
``n`` with the highest ``select_score``:

- ``d-score``: the discriminator's raw score with the intended label (higher = more real to D).
  Keeping the top 300 of 1000 StyleGAN2 melanomas by D lifted melanoma recall on HAM10000 where
  all 1000 hurt (the issue's literature note).
- ``classifier``: the probability of the intended class under a classifier trained on real
  images only (a ``classify train`` run), as in Xue et al. 2019's selective synthetic
  augmentation: images the real-trained classifier does not recognise as their class are
  dropped.
- ``realism``: the k-NN realism score of Kynkäänniemi et al. 2019 ("Improved precision and
  recall metric", sec. 5) in that classifier's penultimate features against the real training
  images of the same class: ``R(g) = max_r NND_k(r) / ||g - r||`` over the real images ``r``
  whose k-NN radius is at most the median (the paper drops the half with the largest radii so
  that outliers in the real set do not make everything look real). ``R >= 1`` means ``g`` falls
  inside some real image's k-NN ball.

The classifier reaches this layer as an :class:`~lesiongan.data.scoring.ImageScorer` passed in
from above (the GAN layer never imports the classifier). The selection classifier must not have
seen images outside the GAN's training split (the leakage guard covers it): its train and
validation images must all be among the GAN's. ``d-score`` needs a family with a discriminator.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch

from lesiongan.errors import DataError, LesionganError

METHODS = ("d-score", "classifier", "realism")


def compute_realism(
    real: np.ndarray, fake: np.ndarray, k: int = 3, prune: bool = True
) -> np.ndarray:
    """k-NN realism score of each row of ``fake`` against ``real`` (Kynkäänniemi et al. 2019).

    ``real`` [R, D], ``fake`` [N, D] -> [N]. Pure function of the feature matrices.
    """
    r = torch.as_tensor(real, dtype=torch.float64)
    f = torch.as_tensor(fake, dtype=torch.float64)
    if r.shape[0] <= k:
        raise ValueError(f"realism needs more than k={k} real feature vectors, got {r.shape[0]}")
    d_rr = torch.cdist(r, r)
    radii = d_rr.kthvalue(k + 1, dim=1).values  # k+1: the 0 distance to itself comes first
    if prune:
        keep = radii <= radii.median()
        r, radii = r[keep], radii[keep]
    d = torch.cdist(f, r).clamp_min(1e-12)
    return (radii[None, :] / d).max(dim=1).values.numpy()


def check_classifier_leakage(run: Path, gan_train_sha256: set[str]) -> None:
    """The selection classifier's train and validation images must all be the GAN's."""
    run = Path(run)
    if not run.exists():
        raise DataError(
            f"{run}: no such selection classifier (--classifier takes a 'classify train' run "
            "directory)"
        )
    splits = (run if run.is_dir() else run.parent) / "splits.csv"
    if not splits.is_file():
        raise DataError(
            f"{splits}: missing; the leakage guard cannot check which images the selection "
            "classifier saw (give a 'classify train' run directory)"
        )
    try:
        with open(splits, newline="", encoding="utf-8") as f:
            seen = [r for r in csv.DictReader(f) if r.get("split") in ("train", "val")]
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{splits}: not a readable splits.csv ({exc})") from None
    if not seen:
        raise DataError(f"{splits}: lists no train or validation images")
    info_path = splits.parent / "run.json"
    info: object = {}
    if info_path.is_file():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(f"{info_path}: not valid JSON ({exc})") from None
    if not isinstance(info, dict):
        raise DataError(f"{info_path}: expected a JSON object (a 'classify train' run.json)")
    if info.get("synthetic_used"):
        raise LesionganError(
            f"{splits.parent}: the selection classifier was trained with synthetic images; "
            "select with a classifier trained on real images only (strategy none, oversample "
            "or class-weight)"
        )
    foreign = [r["image_id"] for r in seen if r.get("source_sha256") not in gan_train_sha256]
    if foreign:
        raise LesionganError(
            f"{run}: the selection classifier was trained on {len(foreign)} image(s) the GAN "
            f"did not train on (e.g. {foreign[0]}); train it on the GAN's train split only "
            "(leakage guard)"
        )
