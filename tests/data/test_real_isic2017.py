"""The product's own checks on the real ISIC 2017 images (``../shared/data/isic2017-256``).

2000 training and 150 validation images with the official labels, resized to 256 px by a third
party (see that folder's README). Skipped where the folder is absent: it is never copied into
the repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lesiongan.data.manifest import load_dataset

ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "isic2017-256"
CLASSES = ["melanoma", "seborrheic_keratosis", "nevus"]
TRAIN = {"melanoma": 374, "seborrheic_keratosis": 254, "nevus": 1372}
VAL = {"melanoma": 30, "seborrheic_keratosis": 42, "nevus": 78}

pytestmark = pytest.mark.skipif(
    not (ROOT / "ISIC-2017_Training_Part3_GroundTruth.csv").is_file(),
    reason=f"the real ISIC 2017 copy is not at {ROOT} (it lives outside the repository)",
)


def _table_rows(out: str) -> dict[str, list[str]]:
    """``{first cell: other cells}`` of the rich table's rows (header included)."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.replace("┃", "│").split("│")]
        if len(cells) > 2:
            rows[cells[1]] = cells[2:-1]
    return rows


def test_inspect_reports_the_official_counts(cli) -> None:
    code, out, err = cli("data", "inspect", ROOT, "--quick")
    assert code == 0, err  # no problem found: exit 0
    assert "(isic2017, 2150 images)" in " ".join(out.split())  # the title may wrap
    rows = _table_rows(out)
    assert rows["class"] == ["train", "val", "total"]
    for cls in CLASSES:
        assert rows[cls] == [str(TRAIN[cls]), str(VAL[cls]), str(TRAIN[cls] + VAL[cls])]
    assert rows["all"] == ["2000", "150", "2150"]
    assert "width 256-256 px, height 256-256 px" in out and "no problems found" in out


@pytest.mark.slow
def test_prepare_poster_split_keeps_the_class_shares(cli, tmp_path: Path) -> None:
    out = tmp_path / "poster"
    code, _, err = cli("data", "prepare", ROOT, "--out", out, "--size", 32, "--split", "poster")
    assert code == 0, err
    info = json.loads((out / "dataset.json").read_text())
    assert info["source_format"] == "isic2017" and info["classes"] == CLASSES
    assert info["n_images"] == 2000 and info["image_size"] == 32 and info["skipped"] == 0
    # 1200 / 800, stratified: each class split 60 / 40 up to rounding
    assert info["counts"] == {
        "train": {"melanoma": 224, "seborrheic_keratosis": 153, "nevus": 823},
        "test": {"melanoma": 150, "seborrheic_keratosis": 101, "nevus": 549},
    }
    for cls in CLASSES:
        assert abs(info["counts"]["test"][cls] - 0.4 * TRAIN[cls]) <= 1
    ds = load_dataset(out)
    train, test = ds.split_rows("train"), ds.split_rows("test")
    assert (len(train), len(test)) == (1200, 800)
    # only the official training images are re-split; no image is on both sides
    assert all("Training_Data" in r.source_path for r in train + test)
    assert not {r.source_sha256 for r in train} & {r.source_sha256 for r in test}


@pytest.mark.slow
def test_prepare_official_split_keeps_train_and_val(tmp_path: Path) -> None:
    from lesiongan.data.prepare import PrepareConfig, run_prepare

    out = tmp_path / "official"
    run_prepare(ROOT, out, PrepareConfig(size=32, split="official"), workers=1)
    info = json.loads((out / "dataset.json").read_text())
    assert info["counts"] == {"train": TRAIN, "val": VAL}
    ds = load_dataset(out)
    assert all("Validation_Data" in r.source_path for r in ds.split_rows("val"))
    assert len(ds.split_rows("train")) == 2000
