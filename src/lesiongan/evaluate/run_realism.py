"""``eval realism``: how close are the synthetic images to the real ones, per class and overall?

The reference is the dataset's train split (what the GAN learned from). Every metric also gets
a real-vs-real floor, the same metric for real images the generator never saw, so that a reader
can tell a good score from sampling noise: by default (``floor: auto``) the test split against
the train split, or, without a test split, two disjoint stratified halves of the train split
(``floor: halves``; the first half is then the reference of the synthetic images too).

Equal n. FID, KID, precision, recall, density and coverage all move with the number of images
compared, so the synthetic images and the floor's real images are compared with the reference at
the same n: per class, n = min(synthetic images, floor images[, ``n_per_class``]), a seeded
subset of each side; overall, the union of those subsets. ``n`` and ``n_<class>`` are recorded,
and :func:`lesiongan.evaluate.metrics.check_comparable` refuses to compare audits of different n.
FID carries a bootstrap interval (``fid_ci_low``/``fid_ci_high``, resampling the compared images),
KID its standard deviation over subsets, and FID∞ (Chong & Forsyth 2020) is extrapolated from all
the images, independent of n. The metrics themselves are those of the registry
(:mod:`lesiongan.evaluate.metrics`).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from lesiongan.errors import DataError
from lesiongan.evaluate.common import (
    FeatureConfig,
    FeatureStore,
    begin_audit,
    load_inputs,
    make_extractor,
    save_metrics,
    stratified_halves,
)
from lesiongan.evaluate.diversity import compute_class_ms_ssim, ms_ssim_scales
from lesiongan.evaluate.images import AuditInputs, ImageSet, check_classes, read_images
from lesiongan.evaluate.metrics import Pair, keys_in, realism_metrics
from lesiongan.evaluate.plots import save_metric_bars, save_pca_scatter, save_rows
from lesiongan.evaluate.realism import DC_K, PR_K, fid_infinity
from lesiongan.evaluate.swd import pyramid_levels
from lesiongan.utils.parallel import ProgressFn

log = logging.getLogger(__name__)
COMPARED_CSV = "compared_images.csv"


class RealismConfig(FeatureConfig):
    floor: Literal["auto", "test", "halves"] = "auto"
    n_per_class: int | None = Field(
        None, ge=2, description="at most this many images per class on each side (equal n)"
    )
    fid_bootstrap: int = Field(50, ge=0, description="resamples for FID's interval (0: none)")
    fid_infinity: bool = Field(True, description="FID extrapolated to infinitely many images")
    ms_ssim_pairs: int = Field(500, ge=1, description="random same-class pairs per class")
    kid_subsets: int = Field(100, ge=1, description="random subsets for KID's mean and std")


def _floor_sets(
    inputs: AuditInputs, real: ImageSet, classes: list[str], cfg: RealismConfig
) -> tuple[str, ImageSet, ImageSet]:
    """(method, reference, floor images): the real images the synthetic ones are compared with,
    and the real images the generator never saw that are compared with them for the floor."""
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


def equal_n_subsets(
    syn: ImageSet, floor: ImageSet, classes: list[str], cap: int | None, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per class, seeded subsets of the synthetic and the floor images of one common size
    n_c = min(both[, cap]) (rows of each set; empty when a side has fewer than 2)."""
    s_idx, f_idx = {}, {}
    for k, c in enumerate(classes):
        si, fi = syn.indices_of(c), floor.indices_of(c)
        n = min(len(si), len(fi), cap or len(si))
        if n < 2:
            s_idx[c] = f_idx[c] = np.zeros(0, np.int64)
            continue
        rng = np.random.default_rng([seed, k, 0xE0])
        s_idx[c] = np.sort(rng.choice(si, n, replace=False))
        f_idx[c] = np.sort(rng.choice(fi, n, replace=False))
    return s_idx, f_idx


def compute_pair(pair: Pair, pixels: bool = True) -> dict[str, float]:
    """Every registered realism metric of one (reference, compared) pair."""
    out: dict[str, float] = {}
    for metric in realism_metrics():
        if metric.needs_pixels and not pixels:
            continue
        out.update(metric.fn(pair))  # type: ignore[misc]
    return out


def _compare(
    m: dict[str, Any],
    suffix: str,
    ref: tuple[ImageSet, np.ndarray, np.ndarray],
    cmp: tuple[np.ndarray, np.ndarray],
    rows: dict[str, np.ndarray],
    classes: list[str],
    cfg: RealismConfig,
) -> None:
    """Metrics of the compared images ``rows[c]`` (per class, and their union) against the
    reference, as ``<key><suffix>`` and ``<key>_<class><suffix>``."""
    ref_set, ref_f, ref_px = ref
    cmp_f, cmp_px = cmp
    opts = {"fid_bootstrap": cfg.fid_bootstrap, "kid_subsets": cfg.kid_subsets}
    union = np.concatenate([rows[c] for c in classes])
    pair = Pair(ref_f, cmp_f[union], ref_px, cmp_px[union], cfg.seed, opts)
    for key, value in compute_pair(pair).items():
        m[f"{key}{suffix}"] = value
    for c in classes:
        i = ref_set.indices_of(c)
        if len(rows[c]) < 2 or len(i) < 2:
            continue
        pair = Pair(ref_f[i], cmp_f[rows[c]], ref_px[i], cmp_px[rows[c]], cfg.seed, opts)
        for key, value in compute_pair(pair).items():
            if not key.startswith("swd_level"):
                m[f"{key}_{c}{suffix}"] = value


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
    method, ref, floor = _floor_sets(inputs, real, classes, cfg)
    extractor = make_extractor(cfg)
    size = inputs.size_px
    stage, reused = begin_audit(out, cfg, inputs, "eval realism", force)
    if reused is not None:  # an equal audit is there
        return reused
    s_rows, f_rows = equal_n_subsets(syn, floor, classes, cfg.n_per_class, cfg.seed)
    with stage.write() as tmp:
        store = FeatureStore(tmp, extractor, cfg)
        sets = {"real": ref, "synthetic": syn, "floor_comparison": floor}
        pixels, feats = {}, {}
        for key, images in sets.items():
            pixels[key] = read_images(images, size)
            feats[key] = store.get(key, images, pixels[key], size, progress)
        m = _header(cfg, extractor.kind, extractor.id, store.files, size, classes, method)
        m.update(
            n_real=len(ref),
            n_synthetic=len(syn),
            n_floor_pool=len(floor),
            n=int(sum(len(s_rows[c]) for c in classes)),
            **{f"n_{c}": len(s_rows[c]) for c in classes},
            **{f"n_reference_{c}": len(ref.indices_of(c)) for c in classes},
            **{f"n_synthetic_{c}": len(syn.indices_of(c)) for c in classes},
            **{f"n_floor_pool_{c}": len(floor.indices_of(c)) for c in classes},
        )
        reference = (ref, feats["real"], pixels["real"])
        sides = (("", "synthetic", s_rows), ("_floor", "floor_comparison", f_rows))
        for suffix, key, rows in sides:
            _compare(m, suffix, reference, (feats[key], pixels[key]), rows, classes, cfg)
            if cfg.fid_infinity:
                m[f"fid_inf{suffix}"] = fid_infinity(feats["real"], feats[key], cfg.seed)
        _ms_ssim(m, syn, pixels["synthetic"], ref, pixels["real"], classes, cfg)
        _write_compared(tmp / COMPARED_CSV, {"synthetic": (syn, s_rows), "floor": (floor, f_rows)})
        m["compared_images"] = COMPARED_CSV
        _plots(tmp, m, ref, syn, feats, pixels, classes)
        save_metrics(tmp, m)
    return m


def _write_compared(path: Path, sides: dict[str, tuple[ImageSet, dict[str, np.ndarray]]]) -> None:
    """Which images were compared at n: ``side,row,image_id,label`` (row: in that side's feature
    file)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["side", "row", "image_id", "label"])
        for side, (images, rows) in sides.items():
            for c, idx in rows.items():
                for i in idx:
                    w.writerow([side, int(i), images.ids[i], c])


def _header(cfg, kind, features_id, files, size, classes, method) -> dict[str, Any]:
    return {
        "features": kind,
        "features_id": features_id,
        "feature_files": files,
        "image_size_px": size,
        "real_split": cfg.real_split,
        "classes": classes,
        "floor_method": method,
        "pr_k": PR_K,
        "dc_k": DC_K,
        "fid_bootstrap": cfg.fid_bootstrap,
        "swd_levels_px": pyramid_levels(size),
        "ms_ssim_scales": ms_ssim_scales(size),
        "ms_ssim_pairs": cfg.ms_ssim_pairs,
        "kid_subsets": cfg.kid_subsets,
    }


def _plots(tmp: Path, m: dict, real, syn, feats, pixels, classes: list[str]) -> None:
    keys = [k for k in keys_in("table") if k in m] + ["swd"]
    save_metric_bars(
        {k: (m.get(k, np.nan), m.get(f"{k}_floor", np.nan)) for k in keys},
        tmp / "metrics_vs_floor.png",
        f"synthetic vs real-vs-real floor ({m['floor_method']}, n={m['n']}), "
        f"features: {m['features']}",
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
