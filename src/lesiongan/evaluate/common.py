"""What the three audits share: their configs, feature matrices on disk, ``metrics.json``."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from lesiongan.config import Config
from lesiongan.evaluate.feature_cache import cached_features, resolve_cache_dir
from lesiongan.evaluate.features import FeatureExtractor, build_extractor
from lesiongan.evaluate.images import AuditInputs, ImageSet, load_audit_inputs
from lesiongan.utils.device import resolve_device
from lesiongan.utils.parallel import ProgressFn
from lesiongan.utils.stage import StageRun, begin_stage

METRICS_JSON = "metrics.json"


class EvalConfig(Config):
    """Options shared by every ``eval`` command."""

    real_split: str = "train"
    reference_split: str = "test"
    seed: int = 0
    device: str = "auto"
    max_images: int | None = Field(None, ge=2, description="random subset per image set")


class FeatureConfig(EvalConfig):
    features: Literal["imagenet", "inception", "domain", "random"] = "imagenet"
    inception_weights: str | None = None
    classifier: str | None = None
    cache: str | None = Field(
        None, description="feature cache directory (default: the user cache; 'off': none)"
    )
    batch_size: int = Field(64, ge=1)
    imagenet_size: int = Field(
        224,
        ge=32,
        le=512,
        description="input size (px) of the imagenet features: 224 as ImageNet; 128 is ~10x "
        "cheaper on a CPU and ranks structures alike (benchmarks/results/audit_features_cpu.json)",
    )


def load_inputs(dataset: Path, synthetic: Path, cfg: EvalConfig) -> AuditInputs:
    """Load both directories and apply ``max_images`` (seeded subsets, same for every run)."""
    inputs = load_audit_inputs(dataset, synthetic)
    if cfg.max_images:
        inputs.synthetic = limit(inputs.synthetic, cfg.max_images, cfg.seed)
        inputs.real = {k: limit(v, cfg.max_images, cfg.seed) for k, v in inputs.real.items()}
    return inputs


def limit(images: ImageSet, n: int, seed: int) -> ImageSet:
    if len(images) <= n:
        return images
    idx = np.sort(np.random.default_rng([seed, len(images)]).choice(len(images), n, replace=False))
    return images.subset(idx)


def make_extractor(cfg: FeatureConfig) -> FeatureExtractor:
    return build_extractor(
        cfg.features,
        resolve_device(cfg.device),
        Path(cfg.inception_weights) if cfg.inception_weights else None,
        Path(cfg.classifier) if cfg.classifier else None,
        cfg.imagenet_size,
    )


class FeatureStore:
    """Features of image sets, written to ``out/features/<name>.npy`` with an ids CSV."""

    def __init__(self, out: Path, extractor: FeatureExtractor, cfg: FeatureConfig) -> None:
        self.out, self.extractor, self.cfg = Path(out), extractor, cfg
        self.files: dict[str, str] = {}

    def get(
        self,
        key: str,
        images: ImageSet,
        pixels: np.ndarray,
        size_px: int,
        progress: ProgressFn | None = None,
        variant: str = "",
    ) -> np.ndarray:
        name = images.name + (f"-{variant}" if variant else "")
        cache = resolve_cache_dir(self.cfg.cache)
        cache = cache / variant if cache is not None and variant else cache
        feats = cached_features(
            self.extractor, images, size_px, cache, self.cfg.batch_size, pixels, progress
        )
        (self.out / "features").mkdir(exist_ok=True)
        np.save(self.out / "features" / f"{name}.npy", feats)
        with open(self.out / "features" / f"{name}.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["row", "image_id", "label", "transform"])
            for i, (image_id, label) in enumerate(zip(images.ids, images.labels)):
                w.writerow([i, image_id, label, variant or "identity"])
        self.files[key] = f"features/{name}.npy"
        return feats


def clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python numbers, NaN/inf to null."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_metrics(out: Path, metrics: dict[str, Any]) -> None:
    (Path(out) / METRICS_JSON).write_text(json.dumps(clean(metrics), indent=2) + "\n")


def begin_audit(
    out: Path, cfg: Config, inputs: AuditInputs, name: str, force: bool
) -> tuple[StageRun, dict[str, Any] | None]:
    """Every audit's preamble: its stage (:func:`lesiongan.utils.stage.begin_stage`, with the
    inputs' fingerprints as provenance), and the metrics of an equal finished audit to reuse
    (None: compute them and write through ``stage.write()``)."""
    roots = [inputs.dataset_root, inputs.synthetic_root]
    stage = begin_stage(out, cfg, roots, name=name, force=force)
    if stage.is_done:
        return stage, json.loads((Path(out) / METRICS_JSON).read_text(encoding="utf-8"))
    stage.provenance = input_fingerprints(inputs)
    return stage, None


def input_fingerprints(inputs: AuditInputs) -> dict[str, Any]:
    from lesiongan.data.manifest import dataset_fingerprint
    from lesiongan.utils.hashing import sha256_file

    return {
        "dataset": str(inputs.dataset_root),
        "dataset_manifest_sha256": dataset_fingerprint(inputs.dataset_root),
        "synthetic": str(inputs.synthetic_root),
        "synthetic_manifest_sha256": sha256_file(inputs.synthetic_root / "manifest.csv"),
    }


def stratified_halves(images: ImageSet, seed: int) -> tuple[ImageSet, ImageSet]:
    """Two disjoint halves with the class shares kept (seeded)."""
    rng = np.random.default_rng([seed, 0xF100])
    a: list[int] = []
    b: list[int] = []
    for label in sorted(set(images.labels)):
        idx = rng.permutation(images.indices_of(label))
        a += idx[: len(idx) // 2].tolist()
        b += idx[len(idx) // 2 :].tolist()
    return images.subset(sorted(a), images.name + "-half-a"), images.subset(
        sorted(b), images.name + "-half-b"
    )
