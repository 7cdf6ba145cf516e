"""``lesiongan classify train``: a classifier run directory around the in-memory trainer.

The run directory appears (atomically) with ``config.yaml``, ``provenance.json``, ``run.json``
(dataset and synthetic inputs with fingerprints, classes, split sizes) and ``splits.csv`` (which
real image served as train, val or test). Each finished epoch updates ``checkpoints/last.pt``,
``history.jsonl`` and ``status.json`` (atomically), so ``--resume`` continues an interrupted run
from its last finished epoch. At the end the best epoch on the validation split (carved from
train, never the test split) is evaluated once on the test split: ``metrics.json``,
``predictions.csv``, ``model.pt`` and PNG plots are written, ``status.json`` says ``done`` and
the resume checkpoint is deleted (``--resume`` on a finished run returns its metrics).

Before anything is trained, the leakage guard refuses a test split that shares an image
(``source_sha256``) with the training set of the GAN behind ``--synthetic``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.data import load_images
from lesiongan.classify.metrics import metrics_with_ci
from lesiongan.classify.models import build_model, save_classifier
from lesiongan.classify.plots import save_confusion_matrix, save_training_curves
from lesiongan.classify.samplers import USES_SYNTHETIC, build_pool, build_sampler, parse_strategy
from lesiongan.classify.trainer import ClassifierTrainer, TrainingData
from lesiongan.config import save_config
from lesiongan.data.manifest import ManifestRow, dataset_fingerprint, load_dataset
from lesiongan.data.splits import stratified_group_split
from lesiongan.data.synthetic import (
    REAL_SCORES,
    SyntheticSet,
    check_leakage,
    load_synthetic,
    require_d_scores,
)
from lesiongan.errors import ConfigError, DataError, LesionganError, OutputExistsError
from lesiongan.utils.device import resolve_device
from lesiongan.utils.hashing import sha256_file
from lesiongan.utils.outdir import atomic_output_dir, write_text_atomic
from lesiongan.utils.provenance import save_provenance
from lesiongan.utils.stage import (
    DONE,
    config_diff,
    load_state,
    locked_stage,
    open_stage,
    rewrite_config,
    save_state,
    write_status,
)

log = logging.getLogger(__name__)
RUN_JSON, CHECKPOINT = "run.json", "checkpoints/last.pt"
RESUME_FORMAT = "lesiongan-classify-resume-v1"
Event = Callable[[dict[str, Any]], None]


@dataclass
class ClassifyResult:
    run_dir: Path
    done: bool
    epochs_done: int
    best_epoch: int
    metrics: dict[str, Any] | None  # metrics.json once done
    reused: bool = False  # an equal finished run was there; nothing was trained


@dataclass
class Inputs:
    classes: list[str]
    train: list[ManifestRow]
    val: list[ManifestRow]
    test: list[ManifestRow]
    synthetic: SyntheticSet | None
    image_size: int
    run_info: dict[str, Any]
    root: Path  # the dataset directory; manifest paths are relative to it


@locked_stage("out")  # one process trains in a directory; a failed run says so in status.json
def run_classify(
    dataset: Path,
    out: Path,
    cfg: ClassifyConfig,
    synthetic: Path | None = None,
    resume: bool | None = False,
    force: bool = False,
    events: Event | None = None,
    stop_after_epochs: int | None = None,
    workers: int | None = None,
    may_change: tuple[str, ...] = (),
) -> ClassifyResult:
    """Train, select on validation, test once. ``events`` gets progress dicts (``stage`` key).

    ``resume``: False = a new run (an equal finished run is reused, an unfinished one refused),
    True = continue an existing run, None = whatever the directory needs (experiments).
    ``may_change``: config keys that may differ on resume (``--set``).
    """
    dataset, out = Path(dataset), Path(out)
    emit = events or (lambda e: None)
    inputs = resolve_inputs(dataset, cfg, Path(synthetic) if synthetic else None)
    input_dirs = [dataset] + ([inputs.synthetic.root] if inputs.synthetic else [])
    stage = open_stage(
        out,
        cfg,
        input_dirs,
        force=force,
        resumable=True,
        may_change=may_change,
        done_files=("metrics.json",),
    )
    if resume and stage.is_new and not force:
        raise LesionganError(f"{out}: nothing to resume (no such run); drop --resume to start")
    if not stage.is_new:
        _check_resume(out, inputs.run_info)
    if stage.state == DONE:  # nothing left to do: the resume checkpoint was removed when done
        metrics = json.loads((out / "metrics.json").read_text())
        return ClassifyResult(out, True, metrics["epochs"], metrics["best_epoch"], metrics, True)
    if not stage.is_new and resume is False:
        raise OutputExistsError(
            f"{out}: holds an unfinished run with this config; add --resume to continue it, "
            "or --force to start again"
        )
    device = resolve_device(cfg.device)
    trainer = _build_trainer(cfg, inputs, device, emit, workers)
    if stage.is_new:
        with atomic_output_dir(out, input_dirs, force) as tmp:
            _write_run_files(tmp, cfg, inputs)
    else:
        if stage.changed:
            rewrite_config(out, cfg)
        if (out / CHECKPOINT).is_file():
            trainer.load_state_dict(_load_checkpoint(out / CHECKPOINT, cfg, stage.changed))
            log.info("resumed %s after epoch %d", out, trainer.epoch)
    while trainer.epoch < cfg.epochs:
        if stop_after_epochs is not None and trainer.epoch >= stop_after_epochs:
            _write_status(out, "stopped", trainer)
            return ClassifyResult(out, False, trainer.epoch, trainer.best_epoch, None)
        _write_status(out, "running", trainer)
        stats = trainer.train_one_epoch(lambda s: emit({"stage": "step", **s}))
        _save_checkpoint(out, trainer)
        emit({"stage": "epoch", "epochs": cfg.epochs, "best_epoch": trainer.best_epoch, **stats})
    metrics = _finish(out, cfg, inputs, trainer, emit, workers)
    return ClassifyResult(out, True, trainer.epoch, trainer.best_epoch, metrics)


def resolve_inputs(dataset: Path, cfg: ClassifyConfig, synthetic: Path | None) -> Inputs:
    """Read and check everything before any work: splits, synthetic set, leakage guard."""
    ds = load_dataset(dataset)
    classes = list(ds.classes)
    test = ds.split_rows("test")
    if not test:
        raise DataError(f"{dataset}: has no test split (prepare it with --split poster)")
    train, val = _train_val(ds.split_rows("train"), ds.split_rows("val"), cfg)
    if not train:
        raise DataError(f"{dataset}: has no train split")
    parts = parse_strategy(cfg.strategy)
    needs = next((p for p in parts if p in USES_SYNTHETIC), None)
    if needs and synthetic is None:
        raise ConfigError(f"strategy {cfg.strategy!r} uses synthetic images: pass --synthetic DIR")
    syn = load_synthetic(synthetic, tuple(classes)) if synthetic else None
    if syn is not None:
        check_leakage(test, syn)  # before any training: fail fast
        if "soft-label" in parts:
            require_d_scores(syn, "soft-label")
        if "soft-label" in parts and syn.real_scores is None:
            reason = syn.info.get("real_scores_missing_reason") or "not in the directory"
            raise DataError(
                f"{syn.root / REAL_SCORES}: missing ({reason}); soft-label calibrates d_score "
                "on the GAN's scores of its real training images (re-run 'gan sample')"
            )
    size = cfg.image_size or int(ds.info.get("image_size") or 0)
    if size < 16:
        raise DataError(f"{dataset}: dataset.json has no image_size; set image_size")
    syn_res = (syn.info.get("resolution") if syn else None) or None
    if syn_res and int(syn_res) < size and needs:
        log.warning(
            "synthetic images are %s px and are enlarged to %d px; their blur can be a shortcut "
            "for the classifier (set image_size=%s to compare like with like)",
            syn_res,
            size,
            syn_res,
        )
    info = {
        "dataset": str(dataset.resolve()),
        "dataset_fingerprint": dataset_fingerprint(dataset),
        "classes": classes,
        "image_size": size,
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
        "val_source": "dataset val split" if ds.split_rows("val") else "carved from train",
        "synthetic": str(syn.root.resolve()) if syn else None,
        "synthetic_manifest_sha256": sha256_file(syn.root / "manifest.csv") if syn else None,
        "n_synthetic": len(syn.rows) if syn else 0,
        "synthetic_used": bool(needs),
        "leakage_guard": "passed" if syn else "no synthetic images",
    }
    return Inputs(classes, train, val, test, syn, size, info, dataset)


def _train_val(
    train: list[ManifestRow], val: list[ManifestRow], cfg: ClassifyConfig
) -> tuple[list[ManifestRow], list[ManifestRow]]:
    """The dataset's val split when it has one, else a stratified, seeded carve of train."""
    if val or not train:
        return train, val
    groups = [r.group_id or r.image_id for r in train]
    mask = stratified_group_split([r.label for r in train], groups, cfg.val_fraction, cfg.seed)
    return [r for r, m in zip(train, mask) if not m], [r for r, m in zip(train, mask) if m]


def _build_trainer(
    cfg: ClassifyConfig, inputs: Inputs, device: torch.device, emit: Event, workers: int | None
) -> ClassifierTrainer:
    classes, syn = inputs.classes, inputs.synthetic
    use_syn = syn if inputs.run_info["synthetic_used"] else None
    paths = [inputs.root / r.path for r in inputs.train]
    syn_rows = use_syn.rows if use_syn else []
    paths += [use_syn.image_path(r) for r in syn_rows] if use_syn else []
    total = len(paths) + len(inputs.val)

    def loading(done: int, _total: int, offset: int = 0) -> None:
        emit({"stage": "load", "done": offset + done, "total": total})

    pool_images = load_images(paths, inputs.image_size, workers, progress=loading)
    val_images = load_images(
        [inputs.root / r.path for r in inputs.val],
        inputs.image_size,
        workers,
        progress=lambda d, t: loading(d, t, len(paths)),
    )
    pool = build_pool(
        [classes.index(r.label) for r in inputs.train],
        len(classes),
        [classes.index(r.label) for r in syn_rows],
        [r.d_score for r in syn_rows],
    )
    try:
        sampler = build_sampler(
            pool,
            cfg.strategy,
            cfg.sampler_params(),
            cfg.seed,
            calibration=use_syn.real_scores if use_syn else None,
        )
    except ValueError as exc:
        raise ConfigError(f"strategy {cfg.strategy!r}: {exc}") from None
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, len(classes), cfg.pretrained)
    data = TrainingData(
        pool_images, val_images, np.array([classes.index(r.label) for r in inputs.val]), classes
    )
    return ClassifierTrainer(cfg, model, sampler, data, device)


def _write_run_files(tmp: Path, cfg: ClassifyConfig, inputs: Inputs) -> None:
    save_config(cfg, tmp / "config.yaml")
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
    save_provenance(tmp, "classify train", prov)


def _check_resume(out: Path, run_info: dict[str, Any]) -> None:
    path = out / RUN_JSON
    if not path.is_file():
        raise LesionganError(f"{out}: nothing to resume (no {RUN_JSON}); drop --resume to start")
    saved = json.loads(path.read_text())
    for key in ("dataset_fingerprint", "synthetic_manifest_sha256", "n_train", "n_val"):
        if saved.get(key) != run_info.get(key):
            raise LesionganError(
                f"{path}: the run was started with other inputs ({key} differs); "
                "resume with the same dataset and --synthetic, or start a new run"
            )


def _save_checkpoint(out: Path, trainer: ClassifierTrainer) -> None:
    save_state(out / CHECKPOINT, RESUME_FORMAT, {"state": trainer.state_dict()}, trainer.cfg)
    lines = "".join(json.dumps(h) + "\n" for h in trainer.history)
    write_text_atomic(out / "history.jsonl", lines)


def _load_checkpoint(path: Path, cfg: ClassifyConfig, changed: list[str]) -> dict[str, Any]:
    """The resume file's trainer state, after checking it was written with this config."""
    state = load_state(path, RESUME_FORMAT)
    diff = [k for k in config_diff(state.get("config") or {}, cfg.model_dump(mode="json"))]
    diff = [k for k in diff if k not in changed]
    if diff:
        raise LesionganError(
            f"{path}: written with other settings ({', '.join(diff[:3])} differ); "
            "start a new run or use --force"
        )
    return state["state"]


def _write_status(out: Path, state: str, trainer: ClassifierTrainer) -> None:
    write_status(
        out,
        state,
        epochs_done=trainer.epoch,
        epochs=trainer.cfg.epochs,
        best_epoch=trainer.best_epoch,
    )


def _finish(
    out: Path,
    cfg: ClassifyConfig,
    inputs: Inputs,
    trainer: ClassifierTrainer,
    emit: Event,
    workers: int | None = None,
) -> dict[str, Any]:
    """Best epoch -> test once -> metrics.json, predictions.csv, model.pt, plots."""
    emit({"stage": "test"})
    trainer.load_best()
    classes = inputs.classes
    test_images = load_images(
        [inputs.root / r.path for r in inputs.test], inputs.image_size, workers
    )
    test_probs = trainer.predict(test_images)
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
    }
    metrics.update(
        metrics_with_ci(y_test, test_probs, classes, n_boot=cfg.bootstrap, seed=cfg.seed)
    )
    rows = _prediction_rows("test", "real", inputs.test, test_probs, classes)
    rows += _prediction_rows(
        "val", "real", inputs.val, trainer.predict(trainer.data.val_images), classes
    )
    pool_probs = trainer.predict(trainer.data.pool_images) if cfg.predict_train else None
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
    save_classifier(
        out / "model.pt",
        trainer.model,
        cfg.model,
        classes,
        inputs.image_size,
        extra={"best_epoch": trainer.best_epoch, "strategy": cfg.strategy},
        config=cfg,
    )
    save_training_curves(out / "training_curves.png", trainer.history, trainer.best_epoch)
    save_confusion_matrix(out / "confusion_matrix.png", metrics["confusion_matrix"], classes)
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    _write_status(out, "done", trainer)
    # the resume checkpoint (weights, optimizer, best weights: ~4x model.pt) is not needed any
    # more; an experiment of many runs would otherwise keep gigabytes of them
    (out / CHECKPOINT).unlink(missing_ok=True)
    return metrics


def _prediction_rows(split, source, rows, probs, classes) -> list[list[Any]]:
    return [
        [r.image_id, split, source, r.label, classes[int(p.argmax())], *[f"{v:.6f}" for v in p]]
        for r, p in zip(rows, probs)
    ]
