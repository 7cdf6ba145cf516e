"""``eval hair``: are hairs reproduced? Hair statistics of real and synthetic images compared.

Real images are the dataset's train split, read at the synthetic images' size (hair of 1-2 px
at 256 px vanishes below about 64 px: audit at the resolution the GAN produces). Per class and
overall, the distributions of the hair pixel fraction, of the number of hair components and of
the hair length are compared with the 1-D Wasserstein distance (lower is better); the same
distance between the real train and test splits is the floor (``*_wasserstein_floor``).
"""

from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from scipy.stats import wasserstein_distance

from lesiongan.evaluate.common import EvalConfig, begin_audit, load_inputs, save_metrics
from lesiongan.evaluate.hair import HairParams, HairStats, compute_hair_stats
from lesiongan.evaluate.images import ImageSet, check_classes, read_images
from lesiongan.evaluate.plots import overlay_mask, save_histograms, save_rows
from lesiongan.utils.parallel import ProgressFn

STATS = ("hair_fraction", "hair_components", "hair_length")


class HairConfig(EvalConfig):
    line_length: float = Field(HairParams.line_length, gt=0, lt=1)
    threshold: float = Field(HairParams.threshold, gt=0, lt=1)
    min_length: float = Field(HairParams.min_length, gt=0, lt=1)
    max_width: float = Field(HairParams.max_width, gt=0, lt=1)
    grid_rows: int = Field(6, ge=1)

    def params(self) -> HairParams:
        return HairParams(self.line_length, self.threshold, self.min_length, self.max_width)


def _values(stats: list[HairStats], key: str, idx: np.ndarray | None = None) -> np.ndarray:
    v = np.array([getattr(s, key) for s in stats], dtype=np.float64)
    return v if idx is None else v[idx]


def _wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    return float(wasserstein_distance(a, b)) if len(a) and len(b) else float("nan")


def _compare(
    m: dict[str, Any], sets: dict[str, tuple[ImageSet, list[HairStats]]], classes: list[str]
) -> None:
    (real, s_real), (syn, s_syn) = sets["real"], sets["synthetic"]
    test = sets.get("test")
    for c in [None, *classes]:
        sfx = "" if c is None else f"_{c}"
        ir = None if c is None else real.indices_of(c)
        isy = None if c is None else syn.indices_of(c)
        for key in STATS:
            a, b = _values(s_real, key, ir), _values(s_syn, key, isy)
            m[f"{key}_real_mean{sfx}"] = float(a.mean()) if len(a) else float("nan")
            m[f"{key}_synthetic_mean{sfx}"] = float(b.mean()) if len(b) else float("nan")
            m[f"{key}_wasserstein{sfx}"] = _wasserstein(a, b)
            if test is not None:
                it = None if c is None else test[0].indices_of(c)
                m[f"{key}_wasserstein{sfx}_floor"] = _wasserstein(a, _values(test[1], key, it))
        m[f"hair_presence_real{sfx}"] = float(np.mean(_values(s_real, "hair_components", ir) > 0))
        m[f"hair_presence_synthetic{sfx}"] = float(
            np.mean(_values(s_syn, "hair_components", isy) > 0)
        )


def run_hair(
    dataset: Path,
    synthetic: Path,
    out: Path,
    cfg: HairConfig,
    force: bool = False,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Write ``out`` (metrics.json, hair_stats.csv, histograms, mask grids); return the metrics."""
    inputs = load_inputs(dataset, synthetic, cfg)
    real, syn = inputs.real_split(cfg.real_split), inputs.synthetic
    classes = check_classes(real, syn, str(inputs.dataset_root))
    test = inputs.real.get(cfg.reference_split)
    size, params = inputs.size_px, cfg.params()
    stage, reused = begin_audit(out, cfg, inputs, "eval hair", force)
    if reused is not None:  # an equal audit is there
        return reused
    with stage.write() as tmp:
        named = {"real": real, "synthetic": syn}
        if test is not None and len(test):
            named["test"] = test
        sets, pixels, masks = {}, {}, {}
        for key, images in named.items():
            pixels[key] = read_images(images, size)
            masks[key], stats = compute_hair_stats(pixels[key], params, progress)
            sets[key] = (images, stats)
        m: dict[str, Any] = {
            "image_size_px": size,
            "real_split": cfg.real_split,
            "floor_split": "test" if "test" in sets else None,
            "classes": classes,
            "n_real": len(real),
            "n_synthetic": len(syn),
            "detector": asdict(params),
        }
        _compare(m, sets, classes)
        _write_stats(tmp / "hair_stats.csv", sets)
        panels = {}
        for c in classes:
            panels[c] = {
                "real": _values(sets["real"][1], "hair_fraction", real.indices_of(c)),
                "synthetic": _values(sets["synthetic"][1], "hair_fraction", syn.indices_of(c)),
            }
        save_histograms(panels, tmp / "hair_fraction_hist.png", "hair pixel fraction")
        for key in ("real", "synthetic"):
            _mask_grid(tmp / f"hair_masks_{key}.png", sets[key], pixels[key], masks[key], cfg)
        save_metrics(tmp, m)
    return m


def _write_stats(path: Path, sets: dict[str, tuple[ImageSet, list[HairStats]]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["set", "image_id", "label", *STATS])
        for key, (images, stats) in sets.items():
            for i, s in enumerate(stats):
                w.writerow(
                    [
                        key,
                        images.ids[i],
                        images.labels[i],
                        f"{s.hair_fraction:.6f}",
                        s.hair_components,
                        f"{s.hair_length:.4f}",
                    ]
                )


def _mask_grid(path: Path, entry, pixels, masks, cfg: HairConfig) -> None:
    """Rows of (image, image with its hair mask in red): the hairiest images, then random."""
    images, stats = entry
    frac = _values(stats, "hair_fraction")
    n = min(cfg.grid_rows, len(images))
    top = list(np.argsort(-frac, kind="stable")[: (n + 1) // 2])
    rest = [i for i in range(len(images)) if i not in top]
    rng = np.random.default_rng([cfg.seed, 0x4A1])
    picks = top + [int(i) for i in rng.permutation(rest)[: n - len(top)]]
    rows = [[pixels[i], overlay_mask(pixels[i], masks[i])] for i in picks]
    labels = [f"{frac[i]:.3f} {images.labels[i]}" for i in picks]
    save_rows(rows, path, labels)
