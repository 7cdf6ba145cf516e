"""Which input normalization suits the EfficientNet-Lite ImageNet weights on dermoscopy: the
weights' own (x - 127) / 128, or ImageNet mean/std? Decided on the training split only.

Frozen view-0 features of the poster split's 1200 training images (from ``precompute.py``),
standardized, multinomial logistic regression, repeated stratified 5-fold cross-validation
(3 repeats) inside the training split; melanoma and keratosis one-vs-rest AUC per fold.

    LESIONGAN_CACHE=/work/runs/h2-cache python scripts/classifier_sweep/norm_check.py \
        /work/runs/isic128:128 /work/runs/isic64:64 --norm-dir /work/runs/h2-norm \
        --out docs/results/classifier-sweep/normalization.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lesiongan.backbones.features import FeatureSpec, file_features
from lesiongan.data.manifest import load_dataset


def cv_aucs(x: np.ndarray, y: np.ndarray, classes: list[str], c: float) -> dict[str, list]:
    out: dict[str, list] = {"melanoma_auc": [], "keratosis_auc": []}
    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=3, random_state=0)
    for tr, va in folds.split(x, y):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
        p = clf.fit(x[tr], y[tr]).predict_proba(x[va])
        for key, cls in (("melanoma_auc", "melanoma"), ("keratosis_auc", "seborrheic_keratosis")):
            k = classes.index(cls)
            out[key].append(float(roc_auc_score(y[va] == k, p[:, k])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("items", nargs="+", help="DATASET:SIZE")
    ap.add_argument("--norm-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--backbone", default="efficientnet_lite0")
    args = ap.parse_args()
    results = []
    for item in args.items:
        root, size = item.rsplit(":", 1)
        ds = load_dataset(Path(root))
        classes = list(ds.classes)
        train = np.array([r.split == "train" for r in ds.rows])
        y = np.array([classes.index(r.label) for r in ds.rows])[train]
        lite = file_features(
            [ds.image_path(r) for r in ds.rows], FeatureSpec(args.backbone, int(size), 8)
        )
        imagenet = np.load(
            args.norm_dir / f"{Path(root).name}-{size}-{args.backbone}-imagenetnorm-v0.npy"
        )
        for norm, feats in (("lite (x-127)/128", lite[0]), ("imagenet mean/std", imagenet)):
            for c in (0.01, 0.1):
                aucs = cv_aucs(feats[train], y, classes, c)
                row = {"dataset": root, "image_size": int(size), "normalization": norm, "C": c}
                for k, v in aucs.items():
                    row[k] = float(np.mean(v))
                    row[f"{k}_sd"] = float(np.std(v, ddof=1))
                print(json.dumps(row), flush=True)
                results.append(row)
    args.out.write_text(
        json.dumps(
            {
                "question": "input normalization of the EfficientNet-Lite ImageNet weights",
                "protocol": "view-0 frozen features of the poster split's training images; "
                "standardized multinomial logistic regression; repeated stratified 5-fold CV "
                "(3 repeats) inside the training split; mean and sd over the 15 folds",
                "command": "scripts/classifier_sweep/norm_check.py " + " ".join(args.items),
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
