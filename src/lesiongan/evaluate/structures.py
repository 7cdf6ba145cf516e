"""Fine structures of dermoscopy images: hair, the dermoscope's vignette or black ring, ruler
marks, ink or pen marks. One detector per structure, validated on hand-labelled real images.

Each detector is a logistic probe on the audit's frozen ImageNet features (EfficientNet-Lite0,
:func:`lesiongan.evaluate.features.build_imagenet`) of images read at the audit's resolution:
the features already see these structures (a cross-validated AUC of 0.83 to 0.98 on real
images, ``benchmarks/results/audit_features_cpu.json``), and one probe per structure is fitted
for each of the resolutions audits run at (:data:`PROBE_SIZES_PX`: the images are read at that
size, as an audit reads them). The probes were fitted on the labels of
``data/structure_labels.csv`` (real ISIC 2017 training images, labelled by eye on contact sheets:
``image_id,structure,present,note``) with :func:`fit_probes`; their weights are
``data/structure_probes.npz`` and their cross-validated precision and recall
``data/structure_validation.json`` (:func:`validate_probes` recomputes both from the images).

What counts as present (the labelling rule):

* ``hair``: at least one visible hair, on the skin or across the lesion;
* ``vignette``: the outside of the dermoscope's circular field is visible as dark (grey to black)
  corners or a ring; a faint lens edge on skin-coloured corners is not;
* ``ruler``: a printed scale: tick marks, a scale bar, "mm";
* ``ink``: pen or marker ink on the skin (dots, lines, crosses, mostly violet); colour stickers,
  fibres and violet-blue lesions are not.

An image is flagged when the probe's probability is at least 0.5 (the probes are fitted with
balanced class weights, so 0.5 balances the two errors). The detectors are the same for real and
synthetic images; their errors are those measured on real images, and a synthetic image far from
every real one may fool them: the audit shows the flagged images next to the numbers.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from lesiongan.errors import DataError, LesionganError

STRUCTURES = ("hair", "vignette", "ruler", "ink")
PROBE_SIZES_PX = (64, 128, 256)
THRESHOLD = 0.5
PROBE_C = 0.01  # inverse L2 strength on standardized features (fixed beforehand, not tuned)
CV_FOLDS = 5
DATA = "data"
LABELS_FILE = "structure_labels.csv"
PROBES_FILE = "structure_probes.npz"
VALIDATION_FILE = "structure_validation.json"


def data_path(name: str) -> Path:
    return Path(str(resources.files("lesiongan.evaluate").joinpath(DATA, name)))


@dataclass(frozen=True)
class Label:
    image_id: str
    structure: str
    present: bool
    note: str


def load_labels(path: Path | None = None) -> list[Label]:
    """The hand labels (``image_id,structure,present,note``)."""
    path = Path(path) if path else data_path(LABELS_FILE)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or set(rows[0]) != {"image_id", "structure", "present", "note"}:
        raise DataError(f"{path}: expected columns image_id,structure,present,note")
    return [Label(r["image_id"], r["structure"], r["present"] == "1", r["note"]) for r in rows]


@dataclass(frozen=True)
class Probe:
    """p(present) = sigmoid(((x - mean) / scale) . coef + intercept)."""

    structure: str
    size_px: int
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def predict(self, feats: np.ndarray) -> np.ndarray:
        z = ((feats - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def fit_probe(feats: np.ndarray, present: np.ndarray, structure: str, size_px: int) -> Probe:
    from sklearn.linear_model import LogisticRegression

    mean = feats.mean(0)
    scale = feats.std(0)
    scale[scale == 0] = 1.0
    clf = LogisticRegression(C=PROBE_C, class_weight="balanced", max_iter=5000)
    clf.fit((feats - mean) / scale, present.astype(int))
    return Probe(structure, size_px, mean, scale, clf.coef_[0], float(clf.intercept_[0]))


def save_probes(path: Path, probes: list[Probe], features_id: str) -> None:
    arrays: dict[str, Any] = {"features_id": np.array(features_id)}
    for p in probes:
        key = f"{p.structure}_{p.size_px}"
        arrays[f"{key}_mean"] = p.mean.astype(np.float32)
        arrays[f"{key}_scale"] = p.scale.astype(np.float32)
        arrays[f"{key}_coef"] = p.coef.astype(np.float32)
        arrays[f"{key}_intercept"] = np.array(p.intercept, np.float64)
    np.savez_compressed(path, **arrays)


def load_probes(size_px: int, features_id: str, path: Path | None = None) -> dict[str, Probe]:
    """The probes fitted at the probe size nearest ``size_px``, for features ``features_id``
    (one line when the file was fitted on other features)."""
    path = Path(path) if path else data_path(PROBES_FILE)
    with np.load(path) as z:
        stored = str(z["features_id"])
        if stored != features_id:
            raise LesionganError(
                f"{path}: structure probes fitted on features {stored}, not {features_id}; "
                "refit them (lesiongan.evaluate.structures.fit_probes)"
            )
        size = probe_size(size_px)
        return {
            s: Probe(
                s,
                size,
                z[f"{s}_{size}_mean"].astype(np.float64),
                z[f"{s}_{size}_scale"].astype(np.float64),
                z[f"{s}_{size}_coef"].astype(np.float64),
                float(z[f"{s}_{size}_intercept"]),
            )
            for s in STRUCTURES
        }


def probe_size(size_px: int) -> int:
    """The probe resolution used for images of ``size_px`` (the nearest, ties to the smaller)."""
    return min(PROBE_SIZES_PX, key=lambda s: (abs(np.log2(s / size_px)), s))


def labelled_features(
    image_root: Path, labels: list[Label], size_px: int, cache: Path | None = None
) -> tuple[list[str], np.ndarray]:
    """(image ids, ImageNet features) of every labelled image read at ``size_px``."""
    import torch

    from lesiongan.evaluate.feature_cache import cached_features, resolve_cache_dir
    from lesiongan.evaluate.features import build_imagenet
    from lesiongan.evaluate.images import ImageSet

    ids = sorted({lab.image_id for lab in labels})
    paths = [Path(image_root) / f"{i}.jpg" for i in ids]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{missing[0]}: labelled image not found ({len(missing)} missing)")
    images = ImageSet("structure-labels", ids, ["?"] * len(ids), paths)
    extractor = build_imagenet(torch.device("cpu"))
    return ids, cached_features(extractor, images, size_px, resolve_cache_dir(cache))


def _rows(labels: list[Label], ids: list[str], structure: str) -> tuple[np.ndarray, np.ndarray]:
    row = {i: k for k, i in enumerate(ids)}
    mine = [lab for lab in labels if lab.structure == structure]
    return np.array([row[lab.image_id] for lab in mine]), np.array([lab.present for lab in mine])


def fit_probes(
    image_root: Path, labels: list[Label], out: Path, cache: Path | None = None
) -> list[Probe]:
    """Fit every structure's probe at every probe size on all the labels; write ``out``."""
    from lesiongan.backbones.features import FeatureSpec
    from lesiongan.evaluate.features import IMAGENET_BACKBONE, IMAGENET_SIZE_PX

    probes = []
    for size in PROBE_SIZES_PX:
        ids, feats = labelled_features(image_root, labels, size, cache)
        for s in STRUCTURES:
            rows, y = _rows(labels, ids, s)
            probes.append(fit_probe(feats[rows], y, s, size))
    save_probes(out, probes, FeatureSpec(IMAGENET_BACKBONE, IMAGENET_SIZE_PX).id)
    return probes


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    flagged = p >= THRESHOLD
    tp = int((flagged & y).sum())
    return {
        "n": len(y),
        "n_present": int(y.sum()),
        "precision": tp / max(int(flagged.sum()), 1),
        "recall": tp / max(int(y.sum()), 1),
        "auc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan"),
    }


def validate_probes(
    image_root: Path, labels: list[Label], sizes: tuple[int, ...] = PROBE_SIZES_PX, cache=None
) -> dict[str, Any]:
    """Cross-validated (stratified 5-fold, seeded) precision, recall and AUC of every structure's
    probe at every size, on all its labels and on the randomly drawn ones alone (the labels whose
    note does not say ``enriched``: an unbiased sample of the training images)."""
    from sklearn.model_selection import StratifiedKFold

    out: dict[str, Any] = {}
    for size in sizes:
        ids, feats = labelled_features(image_root, labels, size, cache)
        per: dict[str, Any] = {}
        for s in STRUCTURES:
            rows, y = _rows(labels, ids, s)
            p = np.zeros(len(y))
            folds = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=0)
            for train, test in folds.split(rows, y):
                p[test] = fit_probe(feats[rows[train]], y[train], s, size).predict(
                    feats[rows[test]]
                )
            random = np.array(
                [("enriched" not in lab.note) for lab in labels if lab.structure == s]
            )
            per[s] = {"all": _scores(y, p), "random_sample": _scores(y[random], p[random])}
        out[str(size)] = per
    return out


def load_validation() -> dict[str, Any]:
    return json.loads(data_path(VALIDATION_FILE).read_text(encoding="utf-8"))
