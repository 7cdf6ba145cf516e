"""torch ``Dataset``s over a prepared dataset directory and a synthetic image directory.

Both hand out ``(image, class_index)`` with the image a uint8 ``[3, S, S]`` tensor (the house
rule: datasets hand out uint8; whoever trains maps the range), read from disk per item, so a
``DataLoader`` with workers loads in parallel. Each has ``classes`` (names, in class-index
order) and ``labels`` (numpy int64, one per item, for samplers):

```python
from torch.utils.data import DataLoader
from lesiongan.data.torch_datasets import real_plus_synthetic

data = real_plus_synthetic("ds", "syn")          # train split + synthetic, leakage-checked
images, labels = next(iter(DataLoader(data, batch_size=32, shuffle=True)))
```

The formats belong to [`lesiongan.data.manifest`][lesiongan.data.manifest] and
[`lesiongan.data.synthetic`][lesiongan.data.synthetic]; this module only reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import ConcatDataset, Dataset

from lesiongan.data.images import read_prepared
from lesiongan.data.manifest import MANIFEST, load_dataset
from lesiongan.data.synthetic import check_leakage, load_synthetic, read_info
from lesiongan.errors import DataError, LesionganError

Transform = Callable[[torch.Tensor], torch.Tensor]
SPLITS = ("train", "val", "test")

__all__ = ["PreparedImageDataset", "SyntheticImageDataset", "real_plus_synthetic"]


class _ImageFiles(Dataset):
    """Image files with class indices; items are ``(uint8 [3, S, S], index)``."""

    def __init__(
        self,
        paths: Sequence[Path],
        labels: Sequence[str],
        classes: Sequence[str],
        image_size: int,
        transform: Transform | None,
    ) -> None:
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        self.classes: tuple[str, ...] = tuple(classes)
        self.paths = [Path(p) for p in paths]
        self.labels = np.array([self.classes.index(x) for x in labels], dtype=np.int64)
        self.image_size = int(image_size)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(read_prepared(self.paths[index], self.image_size))
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.labels[index])


class PreparedImageDataset(_ImageFiles):
    """One split of a prepared dataset (``lesiongan data prepare`` output).

    ``image_size``: side in pixels (default: the dataset's ``image_size``); images are resized
    to it on reading. ``transform``: applied to each uint8 tensor.
    """

    def __init__(
        self,
        dataset_dir: Path | str,
        split: str = "train",
        image_size: int | None = None,
        transform: Transform | None = None,
    ) -> None:
        ds = load_dataset(Path(dataset_dir))
        if split not in SPLITS:
            raise LesionganError(
                f"{ds.root / MANIFEST}: unknown split {split!r} (use {', '.join(SPLITS)})"
            )
        rows = ds.split_rows(split)
        if not rows:
            have = [s for s in SPLITS if ds.split_rows(s)]
            raise LesionganError(
                f"{ds.root / MANIFEST}: no images in split {split!r} (has {', '.join(have)})"
            )
        size = image_size or ds.info.get("image_size") or _first_side(ds.image_path(rows[0]))
        super().__init__(
            [ds.image_path(r) for r in rows], [r.label for r in rows], ds.classes, size, transform
        )
        self.root, self.split = ds.root, split
        self.rows = rows


class SyntheticImageDataset(_ImageFiles):
    """A synthetic image directory (``lesiongan gan sample`` output).

    ``classes``: the class names in index order (default: those recorded in ``synthetic.json``,
    else the labels in manifest order); every label must be one of them. ``image_size``:
    default the recorded ``resolution``.
    """

    def __init__(
        self,
        synthetic_dir: Path | str,
        classes: Sequence[str] | None = None,
        image_size: int | None = None,
        transform: Transform | None = None,
    ) -> None:
        root = Path(synthetic_dir)
        recorded = _recorded_classes(root)
        if classes is None:
            classes = recorded
        syn = load_synthetic(root, tuple(classes) if classes is not None else None)
        if classes is None:
            classes = list(dict.fromkeys(r.label for r in syn.rows))
        size = image_size or syn.info.get("resolution") or _first_side(syn.image_path(syn.rows[0]))
        super().__init__(
            [syn.image_path(r) for r in syn.rows],
            [r.label for r in syn.rows],
            classes,
            size,
            transform,
        )
        self.root = syn.root
        self.synthetic = syn
        self.rows = syn.rows


def real_plus_synthetic(
    dataset_dir: Path | str,
    synthetic_dir: Path | str,
    split: str = "train",
    image_size: int | None = None,
    transform: Transform | None = None,
) -> ConcatDataset:
    """A split of a prepared dataset followed by a synthetic directory, as one dataset.

    Both share the dataset's classes and image size (synthetic images are resized to it). The
    synthetic directory must record the same classes when it records any, and when ``split``
    is the test split the leakage guard must pass (no test image among the GAN's training
    images); both are one-line errors otherwise.
    """
    real = PreparedImageDataset(dataset_dir, split, image_size, transform)
    recorded = _recorded_classes(Path(synthetic_dir))
    if recorded is not None and tuple(recorded) != real.classes:
        raise LesionganError(
            f"{synthetic_dir}: classes {', '.join(recorded)} differ from the dataset's "
            f"({', '.join(real.classes)})"
        )
    syn = SyntheticImageDataset(synthetic_dir, real.classes, real.image_size, transform)
    if split == "test":
        check_leakage(real.rows, syn.synthetic)
    data = ConcatDataset([real, syn])
    data.classes = real.classes  # type: ignore[attr-defined]
    data.labels = np.concatenate([real.labels, syn.labels])  # type: ignore[attr-defined]
    return data


def _recorded_classes(root: Path) -> list[str] | None:
    if not root.is_dir():
        return None  # load_synthetic names the problem
    classes = read_info(root).get("classes")
    return [str(c) for c in classes] if isinstance(classes, list) and classes else None


def _first_side(path: Path) -> int:
    try:
        with Image.open(path) as im:
            return min(im.size)
    except OSError as exc:
        raise DataError(f"{path}: cannot read image ({exc})") from None
