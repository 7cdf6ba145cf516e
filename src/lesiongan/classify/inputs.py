"""A classifier run's inputs, read and checked before any work: the dataset's splits (a
validation split carved from train when the dataset has none), the synthetic set, the leakage
guard, the image size the network takes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesiongan.backbones.features import FeatureSpec
from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.models import get_model_spec
from lesiongan.classify.samplers import USES_SYNTHETIC, parse_strategy
from lesiongan.data.manifest import ManifestRow, dataset_fingerprint, load_dataset
from lesiongan.data.splits import stratified_group_split
from lesiongan.data.synthetic import (
    REAL_SCORES,
    SyntheticSet,
    check_leakage,
    load_synthetic,
    require_d_scores,
)
from lesiongan.errors import ConfigError, DataError, LesionganError
from lesiongan.utils.hashing import sha256_file

log = logging.getLogger(__name__)


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
    rows: list[ManifestRow] = field(default_factory=list)  # every row, in manifest order


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
    if cfg.image_size is None:  # else the config checked it
        try:
            get_model_spec(cfg.model).check_size(size, f"{dataset}: images of")
        except LesionganError as exc:
            raise ConfigError(f"{exc} (set image_size to read them at another size)") from None
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
        "path": cfg.mode,
        "feature_spec": feature_spec(cfg, size).id if cfg.mode == "cached" else None,
    }
    return Inputs(classes, train, val, test, syn, size, info, dataset, ds.rows)


def feature_spec(cfg: ClassifyConfig, image_size: int) -> FeatureSpec:
    """The cached-feature path's features: the model's backbone at ``image_size``."""
    backbone = get_model_spec(cfg.model).backbone
    if backbone is None:
        raise ConfigError(f"model {cfg.model}: has no cached-feature backbone")
    return FeatureSpec(backbone, image_size, cfg.feature_views)


def _train_val(
    train: list[ManifestRow], val: list[ManifestRow], cfg: ClassifyConfig
) -> tuple[list[ManifestRow], list[ManifestRow]]:
    """The dataset's val split when it has one, else a stratified, seeded carve of train."""
    if val or not train:
        return train, val
    groups = [r.group_id or r.image_id for r in train]
    mask = stratified_group_split([r.label for r in train], groups, cfg.val_fraction, cfg.seed)
    return [r for r, m in zip(train, mask) if not m], [r for r, m in zip(train, mask) if m]
