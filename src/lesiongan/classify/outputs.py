"""A classifier run's files: those written when it starts (config, run.json, splits.csv,
provenance) and those written when it ends (metrics.json with the test split's intervals,
predictions.csv of test, val and training items, model.pt, plots)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.inputs import Inputs
from lesiongan.classify.metrics import compute_metrics, metrics_with_ci
from lesiongan.classify.models import save_classifier
from lesiongan.classify.paths import CachedPath, FinetunePath
from lesiongan.classify.plots import save_confusion_matrix, save_training_curves
from lesiongan.classify.trainer import ClassifierTrainer
from lesiongan.utils.outdir import write_text_atomic

RUN_JSON = "run.json"


def write_run_files(tmp: Path, inputs: Inputs) -> dict[str, Any]:
    """run.json, splits.csv and checkpoints/; return the provenance's inputs."""
    (tmp / RUN_JSON).write_text(json.dumps(inputs.run_info, indent=2) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image_id", "label", "split", "source_sha256"])
    for split, rows in (("train", inputs.train), ("val", inputs.val), ("test", inputs.test)):
        w.writerows([r.image_id, r.label, split, r.source_sha256] for r in rows)
    (tmp / "splits.csv").write_text(buf.getvalue())
    (tmp / "checkpoints").mkdir()
    prov = {
        "dataset": {
            "path": inputs.run_info["dataset"],
            "fingerprint": inputs.run_info["dataset_fingerprint"],
        }
    }
    if inputs.synthetic is not None:
        prov["synthetic"] = {
            "path": inputs.run_info["synthetic"],
            "manifest_sha256": inputs.run_info["synthetic_manifest_sha256"],
        }
    return prov


def finish(
    out: Path,
    cfg: ClassifyConfig,
    inputs: Inputs,
    trainer: ClassifierTrainer,
    path: FinetunePath | CachedPath,
) -> dict[str, Any]:
    """Best epoch -> test once -> metrics.json, predictions.csv, model.pt, plots."""
    trainer.load_best()
    classes = inputs.classes
    test_probs = trainer.predict(path.test_items())
    val_probs = trainer.predict(trainer.data.val)
    y_test = np.array([classes.index(r.label) for r in inputs.test])
    metrics: dict[str, Any] = {
        "strategy": cfg.strategy,
        "model": cfg.model,
        "pretrained": cfg.pretrained,
        "seed": cfg.seed,
        "image_size": inputs.image_size,
        "epochs": cfg.epochs,
        "best_epoch": trainer.best_epoch,
        "val_balanced_accuracy": trainer.history[trainer.best_epoch]["val_balanced_accuracy"],
        "n_train_real": len(inputs.train),
        "n_val": len(inputs.val),
        "n_synthetic_available": inputs.run_info["n_synthetic"],
        "synthetic_images_per_epoch": float(
            np.mean([h["train_synthetic_images"] for h in trainer.history])
        ),
        "classes": classes,
        "path": path.name,
        "feature_spec": inputs.run_info["feature_spec"],
        "tta_views": cfg.tta_views,
    }
    metrics.update(_val_metrics(trainer.data.val_labels, val_probs, classes))
    metrics.update(
        metrics_with_ci(y_test, test_probs, classes, n_boot=cfg.bootstrap, seed=cfg.seed)
    )
    rows = _prediction_rows("test", "real", inputs.test, test_probs, classes)
    rows += _prediction_rows("val", "real", inputs.val, val_probs, classes)
    pool_probs = trainer.predict(trainer.data.pool) if cfg.predict_train else None
    n_real = len(inputs.train)
    if pool_probs is not None:
        rows += _prediction_rows("train", "real", inputs.train, pool_probs[:n_real], classes)
    if pool_probs is not None and pool_probs.shape[0] > n_real:
        rows += _prediction_rows(
            "train", "synthetic", inputs.synthetic.rows, pool_probs[n_real:], classes
        )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image_id", "split", "source", "label", "pred", *[f"prob_{c}" for c in classes]])
    w.writerows(rows)
    write_text_atomic(out / "predictions.csv", buf.getvalue())
    extra = {"best_epoch": trainer.best_epoch, "strategy": cfg.strategy, "path": path.name}
    if path.name == "cached":  # the run's predictions average views; the file sees one
        extra.update(feature_spec=inputs.run_info["feature_spec"], tta_views=cfg.tta_views)
    model = path.final_model(trainer)
    save_classifier(
        out / "model.pt", model, cfg.model, classes, inputs.image_size, extra=extra, config=cfg
    )
    save_training_curves(out / "training_curves.png", trainer.history, trainer.best_epoch)
    save_confusion_matrix(out / "confusion_matrix.png", metrics["confusion_matrix"], classes)
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    return metrics


def _prediction_rows(split, source, rows, probs, classes) -> list[list[Any]]:
    return [
        [r.image_id, split, source, r.label, classes[int(p.argmax())], *[f"{v:.6f}" for v in p]]
        for r, p in zip(rows, probs)
    ]


def _val_metrics(y: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """The best epoch's threshold-free validation metrics (what model selection may read)."""
    m = compute_metrics(y, probs, classes)
    keys = ["macro_auc", "melanoma_auc", "keratosis_auc", *[f"auc_{c}" for c in classes]]
    return {f"val_{k}": m[k] for k in keys if k in m}
