"""``lesiongan data synth``: the embedded procedural dataset, written in the ISIC 2017 layout.

The images come from :mod:`lesiongan.data.procedural`; this module decides the class of each
image (ISIC 2017 training proportions, exact up to rounding), gives every image its own random
stream (``seed``, image index) so the output does not depend on the number of workers, and
writes ``ISIC-2017_Training_Data/*.jpg`` plus ``ISIC-2017_Training_Part3_GroundTruth.csv``.
Per-image ground truth that real data lacks (hair coverage, lesion radius) goes to
``procedural_attributes.csv`` beside them, for the hair audit.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import Field

from lesiongan.config import Config, Seed
from lesiongan.data.procedural import render_lesion
from lesiongan.data.splits import allocate_counts
from lesiongan.utils.parallel import ProgressFn, parallel_map
from lesiongan.utils.stage import begin_stage

# ISIC 2017 training set: 374 melanoma, 254 seborrheic keratosis, 1372 nevi of 2000.
ISIC2017_COUNTS = {"melanoma": 374, "seborrheic_keratosis": 254, "nevus": 1372}
DATA_DIR = "ISIC-2017_Training_Data"
GT_CSV = "ISIC-2017_Training_Part3_GroundTruth.csv"
ATTRS_CSV = "procedural_attributes.csv"


class SynthConfig(Config):
    n: int = Field(2000, ge=3, le=100_000, description="number of images")
    size: int = Field(256, ge=32, le=2048, description="image height in px (width is 4/3 of it)")
    seed: Seed = 0
    jpeg_quality: int = Field(95, ge=50, le=100)


@dataclass
class SynthResult:
    out: Path
    counts: dict[str, int]
    n_hair: int
    reused: bool = False  # an equal finished directory was there; nothing was drawn


def compute_class_counts(n: int) -> dict[str, int]:
    """Per-class counts for ``n`` images in the ISIC 2017 proportions (each class at least 1)."""
    total = sum(ISIC2017_COUNTS.values())
    counts = {k: 0 for k in ISIC2017_COUNTS}
    # allocate_counts hands out the "fraction" side exactly; with fraction n/total it gives n.
    if n < total:
        counts = allocate_counts(ISIC2017_COUNTS, n / total)
    else:
        reps, rest = divmod(n, total)
        counts = {k: v * reps for k, v in ISIC2017_COUNTS.items()}
        if rest:
            for k, v in allocate_counts(ISIC2017_COUNTS, rest / total).items():
                counts[k] += v
    return counts


def compute_labels(n: int, seed: int) -> list[str]:
    counts = compute_class_counts(n)
    labels = [k for k, v in counts.items() for _ in range(v)]
    order = np.random.default_rng([seed, 0x5EED]).permutation(len(labels))
    return [labels[i] for i in order]


def image_id(index: int) -> str:
    return f"ISIC_S{index:06d}"


def _render_one(args: tuple[int, str, int, int, int, str]) -> dict:
    index, label, size_px, seed, quality, dest_dir = args
    rng = np.random.default_rng([seed, index])
    width = round(size_px * 4 / 3)
    pixels, attrs = render_lesion(label, rng, size_px, width)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality, subsampling=0)
    (Path(dest_dir) / f"{image_id(index)}.jpg").write_bytes(buf.getvalue())
    return {"image_id": image_id(index), "label": label, **attrs}


def run_synth(
    out: Path,
    config: SynthConfig,
    force: bool = False,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> SynthResult:
    """Draw the dataset into ``out`` (or reuse an equal finished one)."""
    stage = begin_stage(out, config, name="data synth", force=force)
    if stage.is_done:
        return _reused(Path(out))
    labels = compute_labels(config.n, config.seed)
    with stage.write() as tmp:
        data_dir = tmp / DATA_DIR
        data_dir.mkdir()
        tasks = [
            (i, lab, config.size, config.seed, config.jpeg_quality, str(data_dir))
            for i, lab in enumerate(labels)
        ]
        records = parallel_map(_render_one, tasks, workers, progress)
        _write_ground_truth(tmp / GT_CSV, records)
        _write_attributes(tmp / ATTRS_CSV, records)
        counts = {k: labels.count(k) for k in ISIC2017_COUNTS}
        (tmp / "synth.json").write_text(
            json.dumps(
                {
                    "generator": "lesiongan.data.procedural",
                    "layout": "isic2017",
                    "counts": counts,
                    **config.model_dump(),
                },
                indent=2,
            )
            + "\n"
        )
    return SynthResult(Path(out), counts, sum(1 for r in records if r["hair"]))


def _reused(out: Path) -> SynthResult:
    counts = json.loads((out / "synth.json").read_text(encoding="utf-8"))["counts"]
    with open(out / ATTRS_CSV, newline="", encoding="utf-8") as f:
        n_hair = sum(1 for r in csv.DictReader(f) if r.get("hair") == "True")
    return SynthResult(out, counts, n_hair, reused=True)


def _write_ground_truth(path: Path, records: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["image_id", "melanoma", "seborrheic_keratosis"])
        for r in records:
            w.writerow(
                [
                    r["image_id"],
                    f"{float(r['label'] == 'melanoma'):.1f}",
                    f"{float(r['label'] == 'seborrheic_keratosis'):.1f}",
                ]
            )


def _write_attributes(path: Path, records: list[dict]) -> None:
    keys = list(records[0]) if records else ["image_id", "label"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(records)
