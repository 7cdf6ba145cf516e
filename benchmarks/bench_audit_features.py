"""Which fixed input size for the audit's ImageNet features (EfficientNet-Lite0)? Evidence.

On real ISIC 2017 images (``../shared/data/isic2017-256``; skipped when absent), read at an
audit resolution (64 px: the generators head to head; 256 px: the data's own), then resized to
the extractor's input size (128 or 224 px), it measures per input size:

* ``ms_per_image``: CPU time of one image (this machine, one thread);
* ``class_balanced_accuracy``: 5-fold cross-validated logistic regression of the three classes
  on a stratified random sample (how much of the diagnosis the features carry);
* ``structure_auc``: 5-fold cross-validated AUC of a logistic probe for each fine structure on
  the hand-labelled images of ``evaluate/data/structure_labels.csv`` (do the features see hair,
  rulers, ink, the dermoscope's ring?);
* ``fid_detail_over_floor``: FID between two disjoint random halves of the sample (the floor)
  against FID between one half and the other half with its fine detail removed (downsampled 2x
  and back): how far above sampling noise a generator that loses fine detail lands.

    .venv/bin/python benchmarks/bench_audit_features.py [--n 600] [--sizes 128 224]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result
from lesiongan.evaluate.features import build_imagenet, compute_features
from lesiongan.evaluate.realism import compute_fid

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic2017-256"
LABELS = Path(__file__).resolve().parents[1] / "src/lesiongan/evaluate/data/structure_labels.csv"


def _read(ids: list[str], size: int) -> np.ndarray:
    root = DATA / "ISIC-2017_Training_Data"
    out = np.empty((len(ids), size, size, 3), np.uint8)
    for i, k in enumerate(ids):
        im = Image.open(root / f"{k}.jpg").convert("RGB")
        out[i] = np.asarray(
            im if im.size == (size, size) else im.resize((size, size), Image.LANCZOS)
        )
    return out


def _lose_detail(px: np.ndarray) -> np.ndarray:
    s = px.shape[1]
    return np.stack(
        [
            np.asarray(Image.fromarray(x).resize((s // 2, s // 2), Image.BILINEAR).resize((s, s)))
            for x in px
        ]
    )


def _cv_probe(x: np.ndarray, y: np.ndarray, auc: bool) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=3000))
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    if auc:
        from sklearn.metrics import roc_auc_score

        p = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
        return float(roc_auc_score(y, p))
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y, cross_val_predict(clf, x, y, cv=cv)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    ap.add_argument("--audit-sizes", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA}: real ISIC 2017 images not found; nothing measured")
    torch.set_num_threads(args.threads)
    with open(DATA / "ISIC-2017_Training_Part3_GroundTruth.csv") as f:
        gt = {r["image_id"]: int(float(r["melanoma"])) + 2 * int(float(r["seborrheic_keratosis"]))
              for r in csv.DictReader(f)}  # fmt: skip
    ids = sorted(gt)
    rng = np.random.default_rng(0)
    sample = sorted(rng.choice(ids, args.n, replace=False).tolist())
    y_class = np.array([gt[i] for i in sample])
    with open(LABELS) as f:
        labels = list(csv.DictReader(f))
    labelled = sorted({r["image_id"] for r in labels})
    half = rng.permutation(len(sample))
    a, b = half[: len(sample) // 2], half[len(sample) // 2 :]
    results: dict = {"n_sample": len(sample), "n_labelled": len(labelled), "by_audit_size": {}}
    for audit in args.audit_sizes:
        px = _read(sample, audit)
        px_lab = _read(labelled, audit)
        px_lost = _lose_detail(px[b])
        per = {}
        for size in args.sizes:
            ex = build_imagenet(torch.device("cpu"), size)
            t = time.perf_counter()
            f = compute_features(ex, px)
            ms = (time.perf_counter() - t) / len(px) * 1000
            f_lab = compute_features(ex, px_lab)
            f_lost = compute_features(ex, px_lost)
            row = {lab: i for i, lab in enumerate(labelled)}
            aucs = {}
            for s in ("hair", "vignette", "ruler", "ink"):
                rows = [r for r in labels if r["structure"] == s]
                idx = [row[r["image_id"]] for r in rows]
                aucs[s] = _cv_probe(f_lab[idx], np.array([int(r["present"]) for r in rows]), True)
            floor = compute_fid(f[a], f[b])
            per[str(size)] = {
                "features": ex.id,
                "ms_per_image": round(ms, 1),
                "class_balanced_accuracy": _cv_probe(f, y_class, False),
                "structure_auc": aucs,
                "fid_floor": floor,
                "fid_detail_lost": compute_fid(f[a], f_lost),
                "fid_detail_over_floor": compute_fid(f[a], f_lost) / floor,
            }
            print(audit, size, per[str(size)], flush=True)
        results["by_audit_size"][str(audit)] = per
    write_result("audit_features_cpu", results)


if __name__ == "__main__":
    main()
