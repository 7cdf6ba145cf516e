"""``eval structures``: how often do hair, the dermoscope's vignette or ring, ruler marks and ink
marks appear in the real training images, and in the synthetic ones?

Every image (real train split and synthetic, read at the synthetic images' resolution, as every
audit reads them) gets a score per structure from the validated detectors of
:mod:`lesiongan.evaluate.structures` (a probe's probability; for ink, the share of violet
pixels); an image whose score reaches the detector's threshold (``threshold_<s>``) counts as
showing the structure. Per structure, overall and per class: the prevalence among the real and
the synthetic images with a 95 % Wilson interval (``prevalence_<s>_<real|synthetic>``, ``_ci_low``
/ ``_ci_high``, ``_<class>``). The detectors' cross-validated precision and recall on hand-labelled
real images at that resolution are copied next to them (``detector_<s>_precision|recall``): at
64 px thin hairs are below the pixel size and no detector sees them.

Outputs: ``metrics.json``, ``structure_scores.csv`` (every image's scores) and
``examples.png``: per structure, the real images and the synthetic images the detector finds it
in most surely, each with its score.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from lesiongan.evaluate.common import EvalConfig, begin_audit, load_inputs, save_metrics
from lesiongan.evaluate.feature_cache import cached_features, resolve_cache_dir
from lesiongan.evaluate.features import build_imagenet
from lesiongan.evaluate.images import ImageSet, check_classes, read_images
from lesiongan.evaluate.plots import save_rows
from lesiongan.evaluate.structures import (
    STRUCTURES,
    load_probes,
    load_validation,
)
from lesiongan.utils.device import resolve_device
from lesiongan.utils.parallel import ProgressFn

SCORES_CSV = "structure_scores.csv"


class StructuresConfig(EvalConfig):
    cache: str | None = Field(
        None, description="feature cache directory (default: the user cache; 'off': none)"
    )
    batch_size: int = Field(64, ge=1)
    examples: int = Field(4, ge=1, description="images shown per structure and side")


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k / n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def prevalence(flags: np.ndarray, key: str) -> dict[str, float]:
    low, high = wilson(int(flags.sum()), len(flags))
    value = float(flags.mean()) if len(flags) else float("nan")
    return {key: value, f"{key}_ci_low": low, f"{key}_ci_high": high}


def run_structures(
    dataset: Path,
    synthetic: Path,
    out: Path,
    cfg: StructuresConfig,
    force: bool = False,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Write ``out`` (metrics.json, structure_scores.csv, examples.png); return the metrics."""
    inputs = load_inputs(dataset, synthetic, cfg)
    real, syn = inputs.real_split(cfg.real_split), inputs.synthetic
    classes = check_classes(real, syn, str(inputs.dataset_root))
    size = inputs.size_px
    extractor = build_imagenet(resolve_device(cfg.device))
    probes = load_probes(size, extractor.id)
    stage, reused = begin_audit(out, cfg, inputs, "eval structures", force)
    if reused is not None:  # an equal audit is there
        return reused
    probe_px = next(iter(probes.values())).size_px
    validation = load_validation().get(str(probe_px), {})
    with stage.write() as tmp:
        cache = resolve_cache_dir(cfg.cache)
        sides = {"real": real, "synthetic": syn}
        pixels, scores = {}, {}
        for side, images in sides.items():
            pixels[side] = read_images(images, size)
            feats = cached_features(
                extractor, images, size, cache, cfg.batch_size, pixels[side], progress
            )
            scores[side] = {s: probes[s].score(feats, pixels[side]) for s in STRUCTURES}
        m: dict[str, Any] = {
            "features_id": extractor.id,
            "image_size_px": size,
            "probe_size_px": probe_px,
            "real_split": cfg.real_split,
            "classes": classes,
            "n_real": len(real),
            "n_synthetic": len(syn),
        }
        for s in STRUCTURES:
            m[f"threshold_{s}"] = probes[s].threshold
            for side, images in sides.items():
                flags = scores[side][s] >= probes[s].threshold
                m.update(prevalence(flags, f"prevalence_{s}_{side}"))
                for c in classes:
                    m[f"prevalence_{s}_{side}_{c}"] = float(flags[images.indices_of(c)].mean())
            cv = (validation.get(s) or {}).get("all") or {}
            m[f"detector_{s}_precision"] = cv.get("precision")
            m[f"detector_{s}_recall"] = cv.get("recall")
        _write_scores(tmp / SCORES_CSV, sides, scores)
        _examples(tmp / "examples.png", sides, pixels, scores, cfg.examples)
        save_metrics(tmp, m)
    return m


def _write_scores(path: Path, sides: dict[str, ImageSet], scores) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["set", "image_id", "label", *(f"score_{s}" for s in STRUCTURES)])
        for side, images in sides.items():
            for i in range(len(images)):
                probs = (f"{scores[side][s][i]:.4f}" for s in STRUCTURES)
                w.writerow([side, images.ids[i], images.labels[i], *probs])


def _examples(path: Path, sides: dict[str, ImageSet], pixels, scores, n: int) -> None:
    """Per structure, a row of the real images and a row of the synthetic images with the
    highest probability, each captioned with it."""
    rows, labels, captions = [], [], []
    for s in STRUCTURES:
        for side in sides:
            p = scores[side][s]
            top = np.argsort(-p, kind="stable")[:n]
            rows.append([pixels[side][i] for i in top])
            captions.append([f"{p[i]:.3f}" for i in top])
            labels.append(f"{s}: {side}")
    save_rows(rows, path, labels, captions)
