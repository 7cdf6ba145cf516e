"""Fine structures of dermoscopy images: hair, the dermoscope's vignette or black ring, ruler
marks, ink or pen marks. One detector per structure, validated on hand-labelled real images.

Hair, vignette and ruler: a logistic probe on the audit's frozen ImageNet features
(EfficientNet-Lite0, :func:`lesiongan.evaluate.features.build_imagenet`) of images read at the
audit's resolution: the features see these structures (painting hair, black corners or a scale
onto clean real images raises the probes' output; tested), and one probe per structure is fitted
for each resolution audits run at (:data:`PROBE_SIZES_PX`: the images are read at that size, as
an audit reads them). Ink: the share of violet pixels (hue 240-320 degrees, saturation and value
at least 0.25 and 0.2) above a threshold. A probe for ink scored higher on the labels but did
not respond to violet strokes painted onto clean images: it had learnt the look of the clinics
that mark the skin, not the ink, so the colour rule is used. Everything was fitted on the
labels of ``data/structure_labels.csv`` (real ISIC 2017 training images, labelled by eye on
contact sheets: ``image_id,structure,present,note``) with :func:`fit_probes`; the weights and
thresholds are ``data/structure_probes.npz`` and the cross-validated precision and recall
``data/structure_validation.json`` (:func:`validate_probes` recomputes them from the images).

What counts as present (the labelling rule):

* ``hair``: at least one visible hair, on the skin or across the lesion;
* ``vignette``: the outside of the dermoscope's circular field is visible as dark (grey to black)
  corners or a ring; a faint lens edge on skin-coloured corners is not;
* ``ruler``: a printed scale: tick marks, a scale bar, "mm";
* ``ink``: pen or marker ink on the skin (dots, lines, crosses, mostly violet); colour stickers,
  fibres and violet-blue lesions are not.

An image is flagged when a probe's probability is at least 0.5 (the probes are fitted with
balanced class weights, so 0.5 balances the two errors), or when its violet share reaches the
ink threshold (the one that maximizes sensitivity + specificity on the labels). The detectors
are the same for real and synthetic images; their errors are those measured on real images, and
a synthetic image far from every real one may fool them: the audit shows the flagged images next
to the numbers.
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
PROBED = ("hair", "vignette", "ruler")  # logistic probes on the ImageNet features
COLOUR = ("ink",)  # a colour rule on the pixels
VIOLET_HUE = (240.0, 320.0)
VIOLET_MIN_SAT, VIOLET_MIN_VAL = 0.25, 0.2
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

    threshold: float = THRESHOLD

    def predict(self, feats: np.ndarray) -> np.ndarray:
        z = ((feats - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))

    def score(self, feats: np.ndarray, pixels: np.ndarray | None = None) -> np.ndarray:
        return self.predict(feats)

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """What :func:`save_probes` stores of it, under ``KEY_…`` names."""
        return {
            f"{key}_mean": self.mean.astype(np.float32),
            f"{key}_scale": self.scale.astype(np.float32),
            f"{key}_coef": self.coef.astype(np.float32),
            f"{key}_intercept": np.array(self.intercept, np.float64),
        }


def violet_fraction(pixels: np.ndarray) -> np.ndarray:
    """Share of violet pixels (ink) in each uint8 N x H x W x 3 image."""
    x = pixels.astype(np.float32) / 255.0
    mx, mn = x.max(-1), x.min(-1)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0.0)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    d = np.maximum(mx - mn, 1e-6)
    hue = (
        np.where(mx == r, (g - b) / d % 6, np.where(mx == g, (b - r) / d + 2, (r - g) / d + 4))
        * 60.0
    )
    violet = (hue >= VIOLET_HUE[0]) & (hue <= VIOLET_HUE[1])
    violet &= (sat >= VIOLET_MIN_SAT) & (mx >= VIOLET_MIN_VAL)
    return violet.reshape(len(pixels), -1).mean(1)


@dataclass(frozen=True)
class ColourRule:
    """Flagged when the share of violet pixels is at least ``threshold``."""

    structure: str
    size_px: int
    threshold: float

    def score(self, feats: np.ndarray | None, pixels: np.ndarray) -> np.ndarray:
        return violet_fraction(pixels)

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        return {f"{key}_threshold": np.array(self.threshold, np.float64)}


Detector = Probe | ColourRule


def fit_threshold(scores: np.ndarray, present: np.ndarray) -> float:
    """The threshold that maximizes sensitivity + specificity (Youden's J) on the labels."""
    cands = np.unique(scores)
    mids = np.concatenate([(cands[:-1] + cands[1:]) / 2, [cands[-1] + 1e-9]])
    pos, neg = max(int(present.sum()), 1), max(int((~present).sum()), 1)
    j = [((scores >= t) & present).sum() / pos - ((scores >= t) & ~present).sum() / neg
         for t in mids]  # fmt: skip
    return float(mids[int(np.argmax(j))])


def fit_probe(feats: np.ndarray, present: np.ndarray, structure: str, size_px: int) -> Probe:
    from sklearn.linear_model import LogisticRegression

    mean = feats.mean(0)
    scale = feats.std(0)
    scale[scale == 0] = 1.0
    clf = LogisticRegression(C=PROBE_C, class_weight="balanced", max_iter=5000)
    clf.fit((feats - mean) / scale, present.astype(int))
    return Probe(structure, size_px, mean, scale, clf.coef_[0], float(clf.intercept_[0]))


def save_probes(path: Path, probes: list[Detector], features_id: str) -> None:
    arrays: dict[str, Any] = {"features_id": np.array(features_id)}
    for p in probes:
        arrays.update(p.arrays(f"{p.structure}_{p.size_px}"))
    np.savez_compressed(path, **arrays)


def load_probes(size_px: int, features_id: str, path: Path | None = None) -> dict[str, Detector]:
    """The detectors fitted at the probe size nearest ``size_px``, for features ``features_id``
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
        out: dict[str, Detector] = {
            s: Probe(
                s,
                size,
                z[f"{s}_{size}_mean"].astype(np.float64),
                z[f"{s}_{size}_scale"].astype(np.float64),
                z[f"{s}_{size}_coef"].astype(np.float64),
                float(z[f"{s}_{size}_intercept"]),
            )
            for s in PROBED
        }
        for s in COLOUR:
            out[s] = ColourRule(s, size, float(z[f"{s}_{size}_threshold"]))
        return {s: out[s] for s in STRUCTURES}


def probe_size(size_px: int) -> int:
    """The probe resolution used for images of ``size_px`` (the nearest, ties to the smaller)."""
    return min(PROBE_SIZES_PX, key=lambda s: (abs(np.log2(s / size_px)), s))


def labelled_features(
    image_root: Path, labels: list[Label], size_px: int, cache: Path | None = None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(image ids, ImageNet features, pixels) of every labelled image read at ``size_px``."""
    import torch

    from lesiongan.evaluate.feature_cache import cached_features, resolve_cache_dir
    from lesiongan.evaluate.features import build_imagenet
    from lesiongan.evaluate.images import ImageSet, read_images

    ids = sorted({lab.image_id for lab in labels})
    paths = [Path(image_root) / f"{i}.jpg" for i in ids]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{missing[0]}: labelled image not found ({len(missing)} missing)")
    images = ImageSet("structure-labels", ids, ["?"] * len(ids), paths)
    extractor = build_imagenet(torch.device("cpu"))
    pixels = read_images(images, size_px)
    feats = cached_features(extractor, images, size_px, resolve_cache_dir(cache), pixels=pixels)
    return ids, feats, pixels


def _rows(labels: list[Label], ids: list[str], structure: str) -> tuple[np.ndarray, np.ndarray]:
    row = {i: k for k, i in enumerate(ids)}
    mine = [lab for lab in labels if lab.structure == structure]
    return np.array([row[lab.image_id] for lab in mine]), np.array([lab.present for lab in mine])


def _fit(s: str, size: int, feats: np.ndarray, pixels: np.ndarray, y: np.ndarray) -> Detector:
    if s in COLOUR:
        return ColourRule(s, size, fit_threshold(violet_fraction(pixels), y))
    return fit_probe(feats, y, s, size)


def fit_probes(
    image_root: Path, labels: list[Label], out: Path, cache: Path | None = None
) -> list[Detector]:
    """Fit every structure's detector at every probe size on all the labels; write ``out``."""
    from lesiongan.backbones.features import FeatureSpec
    from lesiongan.evaluate.features import IMAGENET_BACKBONE, IMAGENET_SIZE_PX

    probes = []
    for size in PROBE_SIZES_PX:
        ids, feats, pixels = labelled_features(image_root, labels, size, cache)
        for s in STRUCTURES:
            rows, y = _rows(labels, ids, s)
            probes.append(_fit(s, size, feats[rows], pixels[rows], y))
    save_probes(out, probes, FeatureSpec(IMAGENET_BACKBONE, IMAGENET_SIZE_PX).id)
    return probes


def _scores(y: np.ndarray, p: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

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
    """Cross-validated (stratified 5-fold, seeded: each fold's detector fitted on the others)
    precision, recall and AUC of every structure's detector at every size, on all its labels and
    on the randomly drawn ones alone (the labels whose note does not say ``enriched``: an
    unbiased sample of the training images)."""
    from sklearn.model_selection import StratifiedKFold

    out: dict[str, Any] = {}
    for size in sizes:
        ids, feats, pixels = labelled_features(image_root, labels, size, cache)
        per: dict[str, Any] = {}
        for s in STRUCTURES:
            rows, y = _rows(labels, ids, s)
            f, px = feats[rows], pixels[rows]
            p, flags = np.zeros(len(y)), np.zeros(len(y), bool)
            folds = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=0)
            for train, test in folds.split(rows, y):
                det = _fit(s, size, f[train], px[train], y[train])
                p[test] = det.score(f[test], px[test])
                flags[test] = p[test] >= det.threshold
            random = np.array(
                [("enriched" not in lab.note) for lab in labels if lab.structure == s]
            )
            per[s] = {
                "detector": "violet pixels" if s in COLOUR else "probe on ImageNet features",
                "all": _scores(y, p, flags),
                "random_sample": _scores(y[random], p[random], flags[random]),
            }
            if s == "hair":  # the hair audit's DullRazor detector, for comparison
                per[s]["dullrazor_eval_hair"] = _dullrazor(px, y)
        out[str(size)] = per
    return out


def _dullrazor(pixels: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """``eval hair``'s detector as a presence test: at least one hair component."""
    from lesiongan.evaluate.hair import compute_hair_stats

    _, stats = compute_hair_stats(pixels)
    length = np.array([h.hair_length for h in stats])
    return _scores(y, length, np.array([h.hair_components > 0 for h in stats]))


def load_validation() -> dict[str, Any]:
    return json.loads(data_path(VALIDATION_FILE).read_text(encoding="utf-8"))
