"""The cached-feature path's features: frozen ImageNet features of a dataset and a synthetic set.

Features are computed once per (image files, backbone, input size, views) by
:func:`lesiongan.backbones.features.file_features` and cached on disk (``$LESIONGAN_CACHE`` or
``~/.cache/lesiongan``); every classifier cell then trains only a head. A dataset's features are
those of all its rows in manifest order (train, val and test alike), a synthetic set's those of
all its rows: so every run over the same directories reads the same cache entries.

Experiments call :func:`precompute_features` once per (dataset, synthetic set, spec) before
their cells run in parallel workers, so that two workers never compute the same matrix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesiongan.backbones import build_backbone
from lesiongan.backbones.features import FeatureSpec, file_features
from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.inputs import Inputs, feature_spec
from lesiongan.data.manifest import load_dataset
from lesiongan.data.synthetic import load_synthetic
from lesiongan.errors import DataError
from lesiongan.utils.device import resolve_device

log = logging.getLogger(__name__)
ProgressFn = Callable[[int, int], None]


@dataclass
class RunFeatures:
    """float32 ``views x n x D`` features of a run's items."""

    spec: FeatureSpec
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    synthetic: np.ndarray  # of every row of the synthetic set (0 rows when there is none)


def _features(
    paths: list[Path],
    spec: FeatureSpec,
    net: list[torch.nn.Module],
    device: torch.device,
    workers: int | None,
    progress: ProgressFn | None,
    cache_dir: Path | None,
) -> np.ndarray:
    """``file_features``, building the backbone only when a matrix is missing from the cache
    (once for all the calls that share ``net``)."""

    def backbone() -> torch.nn.Module:
        if not net:
            net.append(build_backbone(spec.backbone, "imagenet").to(device))
        return net[0]

    return file_features(paths, spec, cache_dir, device, workers, progress=progress, net=backbone)


def precompute_features(
    dataset: Path,
    cfg: ClassifyConfig,
    synthetic: Path | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Compute (or find in the cache) every feature matrix a ``mode: cached`` run of ``cfg``
    on ``dataset`` (and ``synthetic``) will read. Returns what was cached: the spec id and the
    number of images per directory."""
    ds = load_dataset(dataset)
    size = cfg.image_size or int(ds.info.get("image_size") or 0)
    spec = feature_spec(cfg, size)
    device, net = resolve_device(cfg.device), []
    paths = [ds.image_path(r) for r in ds.rows]
    _features(paths, spec, net, device, workers, progress, cache_dir)
    out: dict[str, Any] = {"feature_spec": spec.id, "dataset": len(paths)}
    if synthetic is not None:
        syn = load_synthetic(Path(synthetic), ds.classes)
        syn_paths = [syn.image_path(r) for r in syn.rows]
        _features(syn_paths, spec, net, device, workers, progress, cache_dir)
        out["synthetic"] = len(syn_paths)
    return out


def run_features(
    inputs: Inputs,
    cfg: ClassifyConfig,
    device: torch.device,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    cache_dir: Path | None = None,
) -> RunFeatures:
    """The features of a run's train, val and test rows, and of its synthetic set."""
    spec = feature_spec(cfg, inputs.image_size)
    net: list[torch.nn.Module] = []
    paths = [inputs.root / r.path for r in inputs.rows]
    feats = _features(paths, spec, net, device, workers, progress, cache_dir)
    where = {r.image_id: i for i, r in enumerate(inputs.rows)}

    def take(rows: list) -> np.ndarray:
        try:
            return feats[:, [where[r.image_id] for r in rows]]
        except KeyError as exc:  # the splits come from the same manifest: a bug if it happens
            raise DataError(f"{inputs.root}: image {exc} is not in the manifest") from None

    syn = inputs.synthetic
    syn_feats = np.zeros((spec.views, 0, feats.shape[2]), np.float32)
    if syn is not None and inputs.run_info["synthetic_used"]:
        syn_paths = [syn.image_path(r) for r in syn.rows]
        syn_feats = _features(syn_paths, spec, net, device, workers, progress, cache_dir)
    return RunFeatures(spec, take(inputs.train), take(inputs.val), take(inputs.test), syn_feats)


def standardizer(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per feature over the real training items' views (std floored at 1e-6)."""
    flat = train.reshape(-1, train.shape[-1]).astype(np.float64)
    return flat.mean(0), np.maximum(flat.std(0), 1e-6)


def fold_standardizer(
    head: torch.nn.Linear, mean: np.ndarray, std: np.ndarray
) -> dict[str, torch.Tensor]:
    """The weights of a linear layer on raw features equal to ``head`` on standardized ones:
    ``W (f - m) / s + b = (W / s) f + (b - W m / s)``."""
    w = head.weight.detach().double().cpu()
    m, s = torch.from_numpy(mean), torch.from_numpy(std)
    weight = w / s
    bias = head.bias.detach().double().cpu() - weight @ m
    return {"weight": weight.float(), "bias": bias.float()}
