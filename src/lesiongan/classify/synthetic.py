"""Synthetic image directories (``gan sample`` output, or any folder that follows DESIGN.md's
``synthetic/manifest.csv`` contract) and the leakage guard.

Leakage guard (DESIGN.md): a classifier is never evaluated on images that the GAN behind its
synthetic data was trained on. The synthetic directory carries ``gan_train_images.csv`` (the
``source_sha256`` of every image the GAN saw); :func:`check_leakage` refuses a test split that
shares any of them. Without that file the guard cannot run, so loading refuses the directory.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesiongan.data.manifest import ManifestRow
from lesiongan.errors import DataError, LesionganError

MANIFEST = "manifest.csv"
GAN_TRAIN_IMAGES = "gan_train_images.csv"
REQUIRED = ("image_id", "label", "path", "seed", "checkpoint_sha256", "d_score")


class LeakageError(LesionganError):
    """The test split contains images the GAN was trained on."""


@dataclass(frozen=True)
class SyntheticRow:
    image_id: str
    label: str
    path: str
    seed: int
    checkpoint_sha256: str
    d_score: float


@dataclass
class SyntheticSet:
    root: Path
    rows: list[SyntheticRow]
    info: dict[str, Any] = field(default_factory=dict)
    gan_train_sha256: frozenset[str] = frozenset()

    def image_path(self, row: SyntheticRow) -> Path:
        return self.root / row.path

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.label] = out.get(r.label, 0) + 1
        return out


def load_synthetic(root: Path, classes: tuple[str, ...] | None = None) -> SyntheticSet:
    """Load and check a synthetic directory; labels must be among ``classes`` when given."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such synthetic image directory")
    rows = _read_manifest(root / MANIFEST, classes)
    for r in rows:
        if not (root / r.path).is_file():
            raise DataError(f"{root / MANIFEST}: image {r.image_id}: file {r.path} is missing")
    info_path = root / "synthetic.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    return SyntheticSet(root, rows, info, _read_gan_train(root / GAN_TRAIN_IMAGES))


def check_leakage(test_rows: list[ManifestRow], synthetic: SyntheticSet) -> None:
    """Raise LeakageError when any test image was among the GAN's training images."""
    leaked = [r for r in test_rows if r.source_sha256 in synthetic.gan_train_sha256]
    if leaked:
        examples = ", ".join(r.image_id for r in leaked[:5])
        raise LeakageError(
            f"{synthetic.root}: refusing to evaluate: {len(leaked)} test image(s) were in the "
            f"training set of the GAN behind these synthetic images (e.g. {examples}); train the "
            "GAN on this dataset's train split, or use the dataset the GAN was trained on"
        )


def _read_manifest(path: Path, classes: tuple[str, ...] | None) -> list[SyntheticRow]:
    if not path.is_file():
        raise DataError(f"{path}: missing (is {path.parent} a 'gan sample' output directory?)")
    rows: list[SyntheticRow] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
        seen: set[str] = set()
        for row in reader:
            line = reader.line_num
            try:
                r = SyntheticRow(
                    row["image_id"],
                    row["label"],
                    row["path"],
                    int(row["seed"]),
                    row["checkpoint_sha256"],
                    float(row["d_score"]),
                )
            except ValueError:
                raise DataError(
                    f"{path}: line {line}: seed must be an integer and d_score a number"
                ) from None
            if not math.isfinite(r.d_score):
                raise DataError(f"{path}: line {line}: d_score is not finite")
            if r.image_id in seen:
                raise DataError(f"{path}: line {line}: duplicate image_id {r.image_id!r}")
            if classes is not None and r.label not in classes:
                raise DataError(
                    f"{path}: line {line}: label {r.label!r} is not a dataset class "
                    f"({', '.join(classes)})"
                )
            seen.add(r.image_id)
            rows.append(r)
    if not rows:
        raise DataError(f"{path}: no synthetic images listed")
    return rows


def _read_gan_train(path: Path) -> frozenset[str]:
    if not path.is_file():
        raise DataError(
            f"{path}: missing; without the GAN's training images the leakage guard cannot run "
            "(a 'gan sample' directory carries it)"
        )
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if "source_sha256" not in (reader.fieldnames or []):
            raise DataError(f"{path}: missing column source_sha256")
        return frozenset(row["source_sha256"] for row in reader if row["source_sha256"])
