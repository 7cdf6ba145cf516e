"""``eval realism``: how close are the synthetic images to the real ones, per class and overall?

The real reference is the dataset's train split (what the GAN learned from). Every metric also
gets a real-vs-real floor, the same metric between two sets of real images, so a reader can tell
a good score from sampling noise: by default (``floor: auto``) the test split against the train
split (same reference as the synthetic images; a fresh real sample of the distribution), or,
without a test split, two disjoint stratified halves of the train split (``floor: halves``).
FID and KID shrink with sample size; compare scores computed on sets of similar size.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from lesiongan.config import save_config
from lesiongan.errors import DataError
from lesiongan.evaluate.common import (
    FeatureConfig,
    FeatureStore,
    input_fingerprints,
    load_inputs,
    make_extractor,
    save_metrics,
    stratified_halves,
)
from lesiongan.evaluate.diversity import compute_class_ms_ssim, ms_ssim_scales
from lesiongan.evaluate.images import AuditInputs, ImageSet, check_classes, read_images
from lesiongan.evaluate.plots import save_metric_bars, save_pca_scatter, save_rows
from lesiongan.evaluate.realism import DC_K, PR_K, compute_feature_metrics
from lesiongan.evaluate.swd import compute_swd, pyramid_levels
from lesiongan.utils.outdir import atomic_output_dir
from lesiongan.utils.parallel import ProgressFn
from lesiongan.utils.provenance import save_provenance
from lesiongan.utils.stage import open_stage

log = logging.getLogger(__name__)
FEATURE_METRICS = ("fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")


class RealismConfig(FeatureConfig):
    floor: Literal["auto", "test", "halves"] = "auto"
    ms_ssim_pairs: int = Field(500, ge=1, description="random same-class pairs per class")
    kid_subsets: int = Field(100, ge=1, description="random subsets for KID's mean and std")


def _floor_sets(inputs: AuditInputs, real: ImageSet, classes: list[str], cfg: RealismConfig):
    """(method, reference, comparison) image sets of the real-vs-real floor."""
    test = inputs.real.get(cfg.reference_split)
    has_test = test is not None and all((np.array(test.labels) == c).sum() >= 2 for c in classes)
    if cfg.floor == "test" or (cfg.floor == "auto" and has_test):
        if not has_test:
            raise DataError(
                f"{inputs.dataset_root}: --floor test needs at least 2 {cfg.reference_split} "
                f"images of every class ({', '.join(classes)})"
            )
        return f"{cfg.reference_split}-vs-{cfg.real_split}", real, test
    a, b = stratified_halves(real, cfg.seed)
    return f"{cfg.real_split}-halves", a, b


def _pair_metrics(
    ref_f: np.ndarray, cmp_f: np.ndarray, ref_px: np.ndarray, cmp_px: np.ndarray, cfg: RealismConfig
) -> dict[str, float]:
    return {
        **compute_feature_metrics(ref_f, cmp_f, cfg.seed, cfg.kid_subsets),
        **compute_swd(ref_px, cmp_px, cfg.seed),
    }


def _per_class(
    out: dict[str, Any],
    suffix: str,
    sets: tuple[ImageSet, ImageSet],
    feats: tuple[np.ndarray, np.ndarray],
    pixels: tuple[np.ndarray, np.ndarray],
    classes: list[str],
    cfg: RealismConfig,
) -> None:
    """Overall metrics as ``<key><suffix>``, per class as ``<key>_<class><suffix>``."""
    for key, value in _pair_metrics(*feats, *pixels, cfg).items():
        out[f"{key}{suffix}"] = value
    for c in classes:
        i, j = sets[0].indices_of(c), sets[1].indices_of(c)
        if len(i) == 0 or len(j) == 0:
            continue
        res = _pair_metrics(feats[0][i], feats[1][j], pixels[0][i], pixels[1][j], cfg)
        for key in (*FEATURE_METRICS, "swd"):
            out[f"{key}_{c}{suffix}"] = res[key]


def _ms_ssim(
    out: dict[str, Any],
    syn: ImageSet,
    syn_px: np.ndarray,
    real: ImageSet,
    real_px: np.ndarray,
    classes: list[str],
    cfg: RealismConfig,
) -> None:
    for suffix, images, px in (("", syn, syn_px), ("_floor", real, real_px)):
        values = []
        for c in classes:
            rng = np.random.default_rng([cfg.seed, classes.index(c), len(suffix)])
            v = compute_class_ms_ssim(px[images.indices_of(c)], cfg.ms_ssim_pairs, rng)
            out[f"ms_ssim_{c}{suffix}"] = v
            values.append(v)
        finite = [v for v in values if np.isfinite(v)]
        out[f"ms_ssim{suffix}"] = float(np.mean(finite)) if finite else float("nan")


def run_realism(
    dataset: Path,
    synthetic: Path,
    out: Path,
    cfg: RealismConfig,
    force: bool = False,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Write ``out`` (metrics.json, features/, plots) and return the metrics."""
    inputs = load_inputs(dataset, synthetic, cfg)
    real, syn = inputs.real_split(cfg.real_split), inputs.synthetic
    classes = check_classes(real, syn, str(inputs.dataset_root))
    method, f_ref, f_cmp = _floor_sets(inputs, real, classes, cfg)
    extractor = make_extractor(cfg)
    size = inputs.size_px
    stage = open_stage(out, cfg, [inputs.dataset_root, inputs.synthetic_root], force=force)
    if stage.is_done:  # an equal audit is there: reuse it
        return json.loads((Path(out) / "metrics.json").read_text(encoding="utf-8"))
    with atomic_output_dir(out, [inputs.dataset_root, inputs.synthetic_root], force) as tmp:
        store = FeatureStore(tmp, extractor, cfg)
        sets = {"real": real, "synthetic": syn, "floor_reference": f_ref}
        sets["floor_comparison"] = f_cmp
        pixels, feats = {}, {}
        for key, images in sets.items():
            pixels[key] = read_images(images, size)
            feats[key] = store.get(key, images, pixels[key], size, progress)
        m: dict[str, Any] = {
            "features": extractor.kind,
            "features_id": extractor.id,
            "feature_files": store.files,
            "image_size_px": size,
            "real_split": cfg.real_split,
            "classes": classes,
            "n_real": len(real),
            "n_synthetic": len(syn),
            "floor_method": method,
            "n_floor_reference": len(f_ref),
            "n_floor_comparison": len(f_cmp),
            "pr_k": PR_K,
            "dc_k": DC_K,
            "swd_levels_px": pyramid_levels(size),
            "ms_ssim_scales": ms_ssim_scales(size),
            "ms_ssim_pairs": cfg.ms_ssim_pairs,
            "kid_subsets": cfg.kid_subsets,
        }
        _per_class(
            m,
            "",
            (real, syn),
            (feats["real"], feats["synthetic"]),
            (pixels["real"], pixels["synthetic"]),
            classes,
            cfg,
        )
        _per_class(
            m,
            "_floor",
            (f_ref, f_cmp),
            (feats["floor_reference"], feats["floor_comparison"]),
            (pixels["floor_reference"], pixels["floor_comparison"]),
            classes,
            cfg,
        )
        _ms_ssim(m, syn, pixels["synthetic"], real, pixels["real"], classes, cfg)
        _plots(tmp, m, real, syn, feats, pixels, classes)
        save_metrics(tmp, m)
        save_config(cfg, tmp / "config.yaml")
        save_provenance(tmp, "eval realism", input_fingerprints(inputs))
    return m


def _plots(tmp: Path, m: dict, real, syn, feats, pixels, classes: list[str]) -> None:
    keys = ("fid", "kid_mean", "precision", "recall", "density", "coverage", "swd", "ms_ssim")
    save_metric_bars(
        {k: (m.get(k, np.nan), m.get(f"{k}_floor", np.nan)) for k in keys},
        tmp / "metrics_vs_floor.png",
        f"synthetic vs real-vs-real floor ({m['floor_method']}), features: {m['features']}",
    )
    if feats["real"].shape[0] >= 3:
        save_pca_scatter(
            feats["real"],
            feats["synthetic"],
            real.labels,
            syn.labels,
            tmp / "feature_pca.png",
            f"{m['features']} features, PCA of the real ones",
        )
    rows, labels = [], []
    for c in classes:
        for name, images, px in (
            ("real", real, pixels["real"]),
            ("synthetic", syn, pixels["synthetic"]),
        ):
            idx = images.indices_of(c)[:8]
            rows.append([px[i] for i in idx])
            labels.append(f"{name} {c}")
    save_rows(rows, tmp / "real_vs_synthetic.png", labels)
