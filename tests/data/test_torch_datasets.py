"""torch Datasets over prepared and synthetic directories: items, labels, batching, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import ConcatDataset, DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "classify"))
from clf_helpers import make_synthetic_dir

from lesiongan.data.images import read_prepared
from lesiongan.data.manifest import load_dataset
from lesiongan.data.synthetic import LeakageError
from lesiongan.data.torch_datasets import (
    PreparedImageDataset,
    SyntheticImageDataset,
    real_plus_synthetic,
)
from lesiongan.errors import LesionganError

MINORITY = {"melanoma": 3, "seborrheic_keratosis": 2}


@pytest.fixture(scope="module")
def synthetic(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dir(tmp_path_factory.mktemp("tds") / "syn", tiny_dataset, MINORITY)


def test_prepared_dataset_items_and_labels(tiny_dataset: Path) -> None:
    ds = load_dataset(tiny_dataset)
    for split in ("train", "test"):
        data = PreparedImageDataset(tiny_dataset, split)
        rows = ds.split_rows(split)
        assert len(data) == len(rows) > 0 and data.classes == ds.classes
        assert data.labels.dtype == np.int64
        assert data.labels.tolist() == [ds.classes.index(r.label) for r in rows]
        x, y = data[0]
        assert x.dtype == torch.uint8 and x.shape == (3, 16, 16) and isinstance(y, int)
        assert torch.equal(x, torch.from_numpy(read_prepared(ds.image_path(rows[0]), 16)))
    assert PreparedImageDataset(tiny_dataset, image_size=8)[0][0].shape == (3, 8, 8)
    flipped = PreparedImageDataset(tiny_dataset, transform=lambda t: t.flip(-1).float())
    x = flipped[0][0]
    assert x.dtype == torch.float32 and torch.equal(
        x, PreparedImageDataset(tiny_dataset)[0][0].flip(-1).float()
    )


def test_synthetic_dataset_items_and_labels(tiny_dataset: Path, synthetic: Path) -> None:
    data = SyntheticImageDataset(synthetic)
    classes = load_dataset(tiny_dataset).classes
    assert data.classes == classes  # recorded in synthetic.json
    assert len(data) == 5
    expect = [classes.index("melanoma")] * 3 + [classes.index("seborrheic_keratosis")] * 2
    assert data.labels.tolist() == expect
    x, y = data[4]
    assert x.dtype == torch.uint8 and x.shape == (3, 16, 16) and y == expect[4]
    own = SyntheticImageDataset(synthetic, classes=["seborrheic_keratosis", "melanoma"])
    assert own.labels.tolist() == [1, 1, 1, 0, 0]
    assert SyntheticImageDataset(synthetic, image_size=32)[0][0].shape == (3, 32, 32)


def test_real_plus_synthetic_batches(tiny_dataset: Path, synthetic: Path) -> None:
    real = PreparedImageDataset(tiny_dataset)
    data = real_plus_synthetic(tiny_dataset, synthetic)
    assert isinstance(data, ConcatDataset) and len(data) == len(real) + 5
    assert data.classes == real.classes
    assert (
        data.labels.tolist()
        == real.labels.tolist() + SyntheticImageDataset(synthetic).labels.tolist()
    )
    batches = list(DataLoader(data, batch_size=8))
    images = torch.cat([b[0] for b in batches])
    labels = torch.cat([b[1] for b in batches])
    assert batches[0][0].shape == (8, 3, 16, 16) and images.dtype == torch.uint8
    assert labels.tolist() == data.labels.tolist()
    # a plain ConcatDataset of the two works the same way
    plain = ConcatDataset([real, SyntheticImageDataset(synthetic, real.classes)])
    assert torch.equal(plain[len(real)][0], data[len(real)][0])


def test_errors_are_one_line(tiny_dataset: Path, synthetic: Path, tmp_path: Path) -> None:
    cases = [
        (lambda: PreparedImageDataset(tmp_path / "nope"), "no such dataset directory"),
        (lambda: PreparedImageDataset(tiny_dataset, "holdout"), "unknown split 'holdout'"),
        (lambda: PreparedImageDataset(tiny_dataset, "val"), "no images in split 'val'"),
        (lambda: SyntheticImageDataset(tmp_path / "nope"), "no such synthetic image directory"),
        (lambda: SyntheticImageDataset(synthetic, ["nevus"]), "not a dataset class"),
    ]
    for make, message in cases:
        with pytest.raises(LesionganError, match=message) as info:
            make()
        assert "\n" not in str(info.value)


def test_class_mismatch_and_leakage_guard(tiny_dataset: Path, tmp_path: Path) -> None:
    leaky = make_synthetic_dir(tmp_path / "leaky", tiny_dataset, MINORITY, gan_images="test")
    real_plus_synthetic(tiny_dataset, leaky)  # training on it is fine
    with pytest.raises(LeakageError, match="refusing to evaluate"):
        real_plus_synthetic(tiny_dataset, leaky, split="test")
    clean = make_synthetic_dir(tmp_path / "clean", tiny_dataset, MINORITY)
    assert len(real_plus_synthetic(tiny_dataset, clean, split="test")) > 5
    info = json.loads((clean / "synthetic.json").read_text())
    info["classes"] = list(reversed(info["classes"]))
    (clean / "synthetic.json").write_text(json.dumps(info))
    with pytest.raises(LesionganError, match="differ from the dataset"):
        real_plus_synthetic(tiny_dataset, clean)
