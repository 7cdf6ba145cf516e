"""``eval memorization``: nearest training images of every synthetic image, C_T, authenticity,
near-duplicates (see :mod:`lesiongan.evaluate.memorization` for the tests and their reading).

The training set is the dataset's train split (what the GAN saw); the held-out real test split is
the reference: a fresh real image is as close to the training set as a generator that does not
copy should be. Neighbours are searched in three spaces: pixels (images area-downsampled to at
most ``pixel_size_px``, Euclidean), SSIM (exact among the ``ssim_candidates`` nearest in pixel
and feature space) and features. With ``flips`` (default) the nearest-neighbour search,
near-duplicates and authenticity also see every training image flipped horizontally, vertically
and both: a flipped copy is still a copy, and GANs are often trained with mirror augmentation.
C_T never does: it is computed as Meehan et al. wrote it, on the training images alone
(``ct_train_flips: false``), per class (``ct_statistic_<class>``) and pooled.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from lesiongan.evaluate.common import (
    FeatureConfig,
    FeatureStore,
    begin_audit,
    load_inputs,
    make_extractor,
    save_metrics,
)
from lesiongan.evaluate.features import FeatureExtractor
from lesiongan.evaluate.images import ImageSet, check_classes, read_images
from lesiongan.evaluate.memorization import (
    CT_CELLS,
    CT_MIN_GENERATED,
    CT_PCA_DIMS,
    DUP_RATIO,
    DUP_SSIM,
    compute_authenticity,
    compute_ct_by_class,
    flag_near_duplicates,
    median_ratio,
)
from lesiongan.evaluate.neighbors import nearest_neighbors, ssim_neighbors
from lesiongan.evaluate.plots import save_histograms, save_rows
from lesiongan.utils.device import resolve_device
from lesiongan.utils.parallel import ProgressFn

TRANSFORMS = {
    "identity": lambda x: x,
    "hflip": lambda x: x[:, :, ::-1],
    "vflip": lambda x: x[:, ::-1],
    "rot180": lambda x: x[:, ::-1, ::-1],
}


class MemorizationConfig(FeatureConfig):
    flips: bool = True
    pixel_size_px: int = Field(64, ge=8, description="pixel-space and SSIM comparisons, px")
    neighbors: int = Field(4, ge=1, description="training neighbours shown per synthetic image")
    grid_rows: int = Field(8, ge=1)
    ssim_candidates: int = Field(16, ge=1)
    ct_cells: int = Field(CT_CELLS, ge=1, description="k-means cells of C_T per class")
    ct_min_generated: int = Field(
        CT_MIN_GENERATED, ge=0, description="a C_T cell counts with more generated samples"
    )
    ct_pca_dims: int = Field(CT_PCA_DIMS, ge=1, description="principal components for C_T")
    dup_ratio: float = Field(DUP_RATIO, gt=0)
    dup_ssim: float = Field(DUP_SSIM, gt=0, le=1)


@dataclass
class Found:
    """What the metrics read: the image sets, neighbours in each space, the features."""

    train: ImageSet
    test: ImageSet
    syn: ImageSet
    pix: Space
    feat: Space
    ssim_syn: tuple[np.ndarray, np.ndarray]
    ssim_test: tuple[np.ndarray, np.ndarray]
    f_train: np.ndarray  # the training images only (C_T)
    f_ref: np.ndarray  # the training images and, with flips, their flipped copies
    f_test: np.ndarray
    f_syn: np.ndarray
    src: np.ndarray  # row of f_ref -> training image


class Space:
    """Neighbours of the synthetic and test images in one space (first column = nearest)."""

    def __init__(self, syn: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]):
        (self.syn_d, self.syn_i), (self.test_d, self.test_i) = syn, test


def _small(px: np.ndarray, size: int) -> np.ndarray:
    """uint8 NHWC area-downsampled to ``size`` (unchanged when already small enough)."""
    if px.shape[1] <= size:
        return px
    x = torch.from_numpy(px).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(size, size), mode="area")
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _unique(d: np.ndarray, i: np.ndarray, src: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the first ``k`` neighbours from distinct training images (flips collapse)."""
    out_d = np.full((len(d), k), np.inf, np.float32)
    out_i = np.zeros((len(d), k), np.int64)
    for r in range(len(d)):
        _, first = np.unique(src[i[r]], return_index=True)
        keep = np.sort(first)[:k]
        out_d[r, : len(keep)], out_i[r, : len(keep)] = d[r, keep], i[r, keep]
    return out_d, out_i


def _search(q_syn, q_test, ref, src, k, device) -> Space:
    n_tf = max(1, len(ref) // max(1, len(np.unique(src))))
    syn = nearest_neighbors(q_syn, ref, k * n_tf, device)
    test = nearest_neighbors(q_test, ref, k * n_tf, device)
    return Space(_unique(*syn, src, k), _unique(*test, src, k))


def run_memorization(
    dataset: Path,
    synthetic: Path,
    out: Path,
    cfg: MemorizationConfig,
    force: bool = False,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Write ``out`` (metrics.json, CSVs, grids, features/) and return the metrics."""
    inputs = load_inputs(dataset, synthetic, cfg)
    train, test = inputs.real_split(cfg.real_split), inputs.real_split(cfg.reference_split)
    syn = inputs.synthetic
    classes = check_classes(train, syn, str(inputs.dataset_root))
    extractor = make_extractor(cfg)
    device = resolve_device(cfg.device)
    size = inputs.size_px
    tfs = list(TRANSFORMS) if cfg.flips else ["identity"]
    stage, reused = begin_audit(out, cfg, inputs, "eval memorization", force)
    if reused is not None:  # an equal audit is there
        return reused
    with stage.write() as tmp:
        store = FeatureStore(tmp, extractor, cfg)
        px = {k: read_images(s, size) for k, s in (("train", train), ("test", test), ("syn", syn))}
        ref_px = np.concatenate([TRANSFORMS[t](px["train"]) for t in tfs])
        src = np.tile(np.arange(len(train)), len(tfs))
        tf_of = np.repeat(np.array(tfs), len(train))
        f_ref = np.concatenate(
            [
                store.get(
                    "real" if t == "identity" else f"real_{t}",
                    train,
                    np.ascontiguousarray(TRANSFORMS[t](px["train"])),
                    size,
                    progress,
                    "" if t == "identity" else t,
                )
                for t in tfs
            ]
        )
        f_test = store.get("reference", test, px["test"], size, progress)
        f_syn = store.get("synthetic", syn, px["syn"], size, progress)
        small = {k: _small(v, cfg.pixel_size_px) for k, v in px.items()}
        small_ref = _small(ref_px, cfg.pixel_size_px)
        vec = {k: v.reshape(len(v), -1).astype(np.float32) / 255 for k, v in small.items()}
        vec_ref = small_ref.reshape(len(small_ref), -1).astype(np.float32) / 255
        kk = max(cfg.neighbors, cfg.ssim_candidates)
        pix = _search(vec["syn"], vec["test"], vec_ref, src, kk, device)
        feat = _search(f_syn, f_test, f_ref, src, kk, device)
        c = cfg.ssim_candidates
        ssim_syn = ssim_neighbors(
            small["syn"], small_ref, np.concatenate([pix.syn_i[:, :c], feat.syn_i[:, :c]], 1)
        )
        ssim_test = ssim_neighbors(
            small["test"], small_ref, np.concatenate([pix.test_i[:, :c], feat.test_i[:, :c]], 1)
        )
        found = Found(train, test, syn, pix, feat, ssim_syn, ssim_test, f_ref[: len(train)],
                      f_ref, f_test, f_syn, src)  # fmt: skip
        m = _metrics(cfg, extractor, store.files, size, classes, found)
        ratio = pix.syn_d[:, 0] / max(float(np.median(pix.test_d[:, 0])), 1e-12)
        dup = flag_near_duplicates(ratio, ssim_syn[0], cfg.dup_ratio, cfg.dup_ssim)
        m["n_near_duplicates"] = int(dup.sum())
        m["near_duplicate_fraction"] = float(dup.mean())
        names = {"train": train, "test": test, "syn": syn}
        _write_csvs(tmp, names, pix, feat, ssim_syn, ssim_test, src, tf_of, ratio, dup)
        _grids(tmp, cfg, small, small_ref, syn, train, pix, feat, src, ratio)
        save_histograms(
            {
                "pixel space": {"synthetic": pix.syn_d[:, 0], "real test": pix.test_d[:, 0]},
                f"{extractor.kind} features": {
                    "synthetic": feat.syn_d[:, 0],
                    "real test": feat.test_d[:, 0],
                },
            },
            tmp / "nn_distances.png",
            "distance to the nearest training image",
        )
        save_metrics(tmp, m)
    return m


def _metrics(
    cfg: MemorizationConfig,
    extractor: FeatureExtractor,
    files: dict[str, str],
    size: int,
    classes: list[str],
    f: Found,
) -> dict[str, Any]:
    ct, ct_class = compute_ct_by_class(
        (f.f_train, f.train.labels),
        (f.f_test, f.test.labels),
        (f.f_syn, f.syn.labels),
        classes,
        cfg.ct_cells,
        cfg.ct_min_generated,
        cfg.seed,
        cfg.ct_pca_dims,
    )
    authenticity, _ = compute_authenticity(f.f_ref, f.f_syn, f.src)
    floor, _ = compute_authenticity(f.f_ref, f.f_test, f.src)
    m: dict[str, Any] = {
        "features": extractor.kind,
        "features_id": extractor.id,
        "feature_files": files,
        "image_size_px": size,
        "pixel_size_px": min(size, cfg.pixel_size_px),
        "classes": classes,
        "n_train": len(f.train),
        "n_test": len(f.test),
        "n_synthetic": len(f.syn),
        "flips": cfg.flips,
        "ct_statistic": ct.statistic,
        "ct_p_value": ct.p_value,
        "ct_cells": ct.n_cells,
        "ct_cells_used": ct.n_cells_used,
        "ct_cells_per_class": cfg.ct_cells,
        "ct_min_generated": cfg.ct_min_generated,
        "ct_pca_dims": cfg.ct_pca_dims,
        "ct_train_flips": False,
        "authenticity": authenticity,
        "authenticity_floor": floor,
        "nn_distance_ratio": median_ratio(f.feat.syn_d[:, 0], f.feat.test_d[:, 0]),
        "nn_distance_ratio_pixel": median_ratio(f.pix.syn_d[:, 0], f.pix.test_d[:, 0]),
        "nn_ssim_synthetic_median": float(np.median(f.ssim_syn[0])),
        "nn_ssim_test_median": float(np.median(f.ssim_test[0])),
        "near_duplicate_ratio_threshold": cfg.dup_ratio,
        "near_duplicate_ssim_threshold": cfg.dup_ssim,
    }
    for c in classes:
        i, j = f.syn.indices_of(c), f.test.indices_of(c)
        m[f"ct_statistic_{c}"] = ct_class[c].statistic
        m[f"ct_p_value_{c}"] = ct_class[c].p_value
        m[f"ct_cells_used_{c}"] = ct_class[c].n_cells_used
        m[f"nn_distance_ratio_{c}"] = median_ratio(f.feat.syn_d[i, 0], f.feat.test_d[j, 0])
        m[f"nn_distance_ratio_pixel_{c}"] = median_ratio(f.pix.syn_d[i, 0], f.pix.test_d[j, 0])
    return m


def _write_csvs(tmp, names, pix, feat, ssim_syn, ssim_test, src, tf_of, ratio, dup) -> None:
    train = names["train"]
    header = [
        "set",
        "image_id",
        "label",
        "pixel_nn_id",
        "pixel_nn_transform",
        "pixel_distance",
        "feature_nn_id",
        "feature_nn_transform",
        "feature_distance",
        "ssim_nn_id",
        "ssim_nn_transform",
        "ssim",
        "pixel_ratio",
        "near_duplicate",
    ]
    rows = []
    for kind, images, d_p, i_p, d_f, i_f, (s, i_s) in (
        ("synthetic", names["syn"], pix.syn_d, pix.syn_i, feat.syn_d, feat.syn_i, ssim_syn),
        ("test", names["test"], pix.test_d, pix.test_i, feat.test_d, feat.test_i, ssim_test),
    ):
        den = max(float(np.median(pix.test_d[:, 0])), 1e-12)
        for r in range(len(images)):
            rows.append(
                [
                    kind,
                    images.ids[r],
                    images.labels[r],
                    train.ids[src[i_p[r, 0]]],
                    tf_of[i_p[r, 0]],
                    f"{d_p[r, 0]:.6g}",
                    train.ids[src[i_f[r, 0]]],
                    tf_of[i_f[r, 0]],
                    f"{d_f[r, 0]:.6g}",
                    train.ids[src[i_s[r]]],
                    tf_of[i_s[r]],
                    f"{s[r]:.4f}",
                    f"{d_p[r, 0] / den:.4f}",
                    int(bool(dup[r])) if kind == "synthetic" else "",
                ]
            )
    for name, keep in (
        ("nearest_neighbors.csv", rows),
        ("near_duplicates.csv", [r for r in rows if r[0] == "synthetic" and r[-1] == 1]),
    ):
        if name == "near_duplicates.csv":
            keep = sorted(keep, key=lambda r: float(r[12]))
        with open(tmp / name, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(keep)


def _grids(tmp, cfg, small, small_ref, syn, train, pix, feat, src, ratio) -> None:
    rng = np.random.default_rng([cfg.seed, 0x6D])
    n = min(cfg.grid_rows, len(syn))
    k = cfg.neighbors
    picks = {
        "nn_closest_pixel.png": (np.argsort(ratio)[:n], pix),
        "nn_closest_features.png": (np.argsort(feat.syn_d[:, 0])[:n], feat),
        "nn_random.png": (np.sort(rng.choice(len(syn), n, replace=False)), pix),
    }
    for name, (rows_idx, space) in picks.items():
        rows, caps, labels = [], [], []
        for r in rows_idx:
            nbrs = [j for q, j in enumerate(space.syn_i[r, :k]) if np.isfinite(space.syn_d[r, q])]
            rows.append([small["syn"][r]] + [small_ref[j] for j in nbrs])
            caps.append([syn.ids[r]] + [f"{space.syn_d[r, q]:.3g}" for q in range(len(nbrs))])
            labels.append(f"{syn.labels[r]}")
        save_rows(rows, tmp / name, labels, caps, separator_after=0)
