"""The image sets an audit compares: real images of a prepared dataset and a synthetic directory.

Every set is read at one common size, the synthetic images' resolution (real images are resized
down to it with Lanczos filtering), as uint8 ``N x H x W x 3`` arrays. A set's fingerprint (the
SHA-256 of its files' bytes, in order, plus the size it is read at) keys the feature cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from lesiongan.data.manifest import load_dataset
from lesiongan.data.synthetic import load_synthetic
from lesiongan.errors import DataError
from lesiongan.utils.hashing import sha256_file
from lesiongan.utils.parallel import ProgressFn


@dataclass
class ImageSet:
    """A list of image files with their ids and class labels."""

    name: str
    ids: list[str]
    labels: list[str]
    paths: list[Path]
    _fingerprint: str | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, indices: list[int] | np.ndarray, name: str | None = None) -> ImageSet:
        idx = [int(i) for i in indices]
        return ImageSet(
            name or self.name,
            [self.ids[i] for i in idx],
            [self.labels[i] for i in idx],
            [self.paths[i] for i in idx],
        )

    def indices_of(self, label: str) -> np.ndarray:
        return np.array([i for i, lab in enumerate(self.labels) if lab == label], dtype=np.int64)

    def fingerprint(self, size_px: int) -> str:
        """SHA-256 over the files' hashes and the size they are read at."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            for p in self.paths:
                h.update(sha256_file(p).encode())
            self._fingerprint = h.hexdigest()
        return hashlib.sha256(f"{self._fingerprint}:{size_px}".encode()).hexdigest()


@dataclass
class AuditInputs:
    """Real splits and synthetic images, checked against each other."""

    classes: tuple[str, ...]
    real: dict[str, ImageSet]  # split -> images
    synthetic: ImageSet
    size_px: int
    dataset_root: Path
    synthetic_root: Path
    synthetic_info: dict

    def real_split(self, split: str) -> ImageSet:
        if split not in self.real or not len(self.real[split]):
            have = ", ".join(s for s in self.real if len(self.real[s])) or "none"
            raise DataError(
                f"{self.dataset_root}: the dataset has no {split!r} split (splits: {have})"
            )
        return self.real[split]


def load_audit_inputs(dataset: Path, synthetic: Path) -> AuditInputs:
    """Load a prepared dataset and a synthetic directory; errors name the offending file."""
    ds = load_dataset(Path(dataset))
    syn = load_synthetic(Path(synthetic), ds.classes)
    real: dict[str, ImageSet] = {}
    for split in ("train", "val", "test"):
        rows = ds.split_rows(split)
        real[split] = ImageSet(
            f"real-{split}",
            [r.image_id for r in rows],
            [r.label for r in rows],
            [ds.image_path(r) for r in rows],
        )
    syn_set = ImageSet(
        "synthetic",
        [r.image_id for r in syn.rows],
        [r.label for r in syn.rows],
        [syn.image_path(r) for r in syn.rows],
    )
    return AuditInputs(
        ds.classes,
        real,
        syn_set,
        synthetic_size(syn_set),
        Path(dataset),
        Path(synthetic),
        syn.info,
    )


def synthetic_size(images: ImageSet) -> int:
    """The synthetic images' side in px; they must be square and all of one size."""
    sizes: dict[tuple[int, int], Path] = {}
    for p in images.paths:
        try:
            with Image.open(p) as im:
                sizes.setdefault(im.size, p)
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"{p}: not a readable image ({exc.__class__.__name__})") from None
    if len(sizes) > 1:
        (a, pa), (b, pb) = list(sizes.items())[:2]
        raise DataError(
            f"{pb}: synthetic images differ in size ({b[0]}x{b[1]} vs {a[0]}x{a[1]} in {pa.name})"
        )
    (w, h), p = next(iter(sizes.items()))
    if w != h:
        raise DataError(f"{p}: synthetic images must be square, got {w}x{h}")
    if w < 16:
        raise DataError(f"{p}: synthetic images of {w} px are too small to audit (at least 16 px)")
    return w


def check_classes(real: ImageSet, synthetic: ImageSet, what: str) -> list[str]:
    """Classes present in the synthetic set; each must also be present among the real images."""
    classes = sorted(set(synthetic.labels), key=synthetic.labels.index)
    missing = [c for c in classes if c not in set(real.labels)]
    if missing:
        raise DataError(
            f"{what}: no real {real.name.removeprefix('real-')} images of class "
            f"{', '.join(missing)} to compare the synthetic images with"
        )
    return classes


def read_images(images: ImageSet, size_px: int, progress: ProgressFn | None = None) -> np.ndarray:
    """Every image as uint8 RGB ``size_px x size_px`` (square images resized, others cropped)."""
    out = np.empty((len(images), size_px, size_px, 3), dtype=np.uint8)
    for i, p in enumerate(images.paths):
        out[i] = read_image(p, size_px)
        if progress:
            progress(i + 1, len(images))
    return out


def read_image(path: Path, size_px: int) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            if w != h:  # centre square, as data prepare does
                s = min(w, h)
                im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            if im.size != (size_px, size_px):
                im = im.resize((size_px, size_px), Image.LANCZOS)
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: not a readable image ({exc.__class__.__name__})") from None
