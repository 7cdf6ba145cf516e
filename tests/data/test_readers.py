"""Each reader on a tiny dataset in its layout, the real ISIC 2017 sample, and auto-detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_isic2017, write_csv, write_image
from lesiongan.data.readers import detect_format, read_source
from lesiongan.errors import DataError


def test_real_isic2017_sample_is_read_and_superpixels_ignored(isic_sample: Path) -> None:
    ds = read_source(isic_sample)
    assert ds.format == "isic2017"
    assert ds.problems == []
    assert ds.counts() == {"val": {"melanoma": 2, "seborrheic_keratosis": 2, "nevus": 2}}
    assert all(im.path.suffix == ".jpg" and "superpixels" not in im.path.name for im in ds.images)
    labels = {im.image_id: im.label for im in ds.images}
    assert labels["ISIC_0014428"] == "melanoma"
    assert labels["ISIC_0014310"] == "seborrheic_keratosis"
    assert labels["ISIC_0009995"] == "nevus"


def test_isic2017_full_layout_maps_three_splits(tmp_path: Path) -> None:
    make_isic2017(
        tmp_path, {"melanoma": 2, "seborrheic_keratosis": 1, "nevus": 3}, "Training", start=0
    )
    make_isic2017(
        tmp_path, {"melanoma": 1, "seborrheic_keratosis": 1, "nevus": 1}, "Validation", start=100
    )
    make_isic2017(
        tmp_path, {"melanoma": 1, "seborrheic_keratosis": 1, "nevus": 2}, "Test_v2", start=200
    )
    ds = read_source(tmp_path)
    assert ds.problems == []
    assert ds.splits == ("train", "val", "test")
    assert ds.counts()["train"] == {"melanoma": 2, "seborrheic_keratosis": 1, "nevus": 3}
    assert ds.counts()["test"]["nevus"] == 2


def _ham(root: Path, rows: list[tuple[str, str, str]]) -> Path:
    write_csv(
        root / "HAM10000_metadata.csv",
        ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"],
        [[lesion, image, dx, "histo", 50, "male", "back"] for lesion, image, dx in rows],
    )
    for i, (_, image, _) in enumerate(rows):
        part = "HAM10000_images_part_1" if i % 2 else "HAM10000_images_part_2"
        write_image(root / part / f"{image}.jpg", seed=i)
    return root


def test_ham10000_reads_lesion_groups_and_maps_dx(tmp_path: Path) -> None:
    root = _ham(
        tmp_path,
        [
            ("HAM_0000001", "ISIC_0000001", "mel"),
            ("HAM_0000001", "ISIC_0000002", "mel"),
            ("HAM_0000002", "ISIC_0000003", "nv"),
            ("HAM_0000003", "ISIC_0000004", "bkl"),
            ("HAM_0000004", "ISIC_0000005", "bcc"),
            ("HAM_0000005", "ISIC_0000006", "akiec"),
            ("HAM_0000006", "ISIC_0000007", "df"),
            ("HAM_0000007", "ISIC_0000008", "vasc"),
        ],
    )
    ds = read_source(root)
    assert ds.format == "ham10000"
    assert ds.problems == []
    groups = {im.image_id: im.group for im in ds.images}
    assert groups["ISIC_0000001"] == groups["ISIC_0000002"] == "HAM_0000001"
    assert {im.label for im in ds.images} == set(ds.classes)
    assert "melanoma" in ds.classes and "nevus" in ds.classes


def test_ham10000_unknown_dx_is_a_problem(tmp_path: Path) -> None:
    root = _ham(tmp_path, [("HAM_1", "ISIC_1", "mel"), ("HAM_2", "ISIC_2", "xyz")])
    ds = read_source(root)
    bad = [p for p in ds.problems if p.kind == "bad_label"]
    assert len(bad) == 1 and "xyz" in bad[0].message and bad[0].path.name == "HAM10000_metadata.csv"


def _onehot(
    root: Path, prefix: str, codes: list[str], rows: list[tuple[str, str]], split: str = "Training"
) -> None:
    write_csv(
        root / f"{prefix}_{split}_GroundTruth.csv",
        ["image", *codes],
        [[image, *(1.0 if c == code else 0.0 for c in codes)] for image, code in rows],
    )
    for i, (image, _) in enumerate(rows):
        write_image(root / f"{prefix}_{split}_Input" / f"{image}.jpg", seed=i)


def test_isic2019_onehot_drops_unused_unk_and_uses_lesion_ids(tmp_path: Path) -> None:
    codes = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]
    rows = [(f"ISIC_{i:07d}", c) for i, c in enumerate(codes[:-1] * 2)]
    _onehot(tmp_path, "ISIC_2019", codes, rows)
    write_csv(
        tmp_path / "ISIC_2019_Training_Metadata.csv",
        ["image", "age_approx", "anatom_site_general", "lesion_id", "sex"],
        [
            ["ISIC_0000000", 55, "torso", "BCN_0001", "male"],
            ["ISIC_0000008", 55, "torso", "BCN_0001", "male"],
            ["ISIC_0000001", 40, "torso", "", "female"],
        ],
    )
    assert detect_format(tmp_path) == "isic-onehot"
    ds = read_source(tmp_path)
    assert ds.format == "isic2019"
    assert ds.problems == []
    assert "unknown" not in ds.classes and len(ds.classes) == 8
    groups = {im.image_id: im.group for im in ds.images}
    assert groups["ISIC_0000000"] == groups["ISIC_0000008"] == "BCN_0001"
    assert groups["ISIC_0000001"] == "ISIC_0000001"  # empty lesion id: the image is its own group


def test_isic2018_onehot_with_validation_split(tmp_path: Path) -> None:
    codes = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    _onehot(tmp_path, "ISIC2018_Task3", codes, [(f"ISIC_{i:07d}", c) for i, c in enumerate(codes)])
    _onehot(
        tmp_path,
        "ISIC2018_Task3",
        codes,
        [(f"ISIC_{i + 50:07d}", c) for i, c in enumerate(codes)],
        "Validation",
    )
    ds = read_source(tmp_path)
    assert ds.format == "isic2018" and ds.problems == []
    assert ds.splits == ("train", "val")
    assert "actinic_keratosis" in ds.classes


def test_onehot_row_with_two_classes_is_a_problem(tmp_path: Path) -> None:
    codes = ["MEL", "NV"]
    _onehot(tmp_path, "ISIC_2019", codes, [("ISIC_1", "MEL"), ("ISIC_2", "NV"), ("ISIC_3", "NV")])
    csv_path = tmp_path / "ISIC_2019_Training_GroundTruth.csv"
    csv_path.write_text(csv_path.read_text().replace("ISIC_3,0.0,1.0", "ISIC_3,1.0,1.0"))
    ds = read_source(tmp_path)
    assert [p.image_id for p in ds.problems] == ["ISIC_3"]
    assert "exactly one class" in ds.problems[0].message and "line 4" in ds.problems[0].message


def test_folder_layout_flat_and_with_splits(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    for i in range(3):
        write_image(flat / "benign" / f"b{i}.png", fmt="PNG", seed=i)
        write_image(flat / "malignant" / f"m{i}.jpg", seed=i)
    ds = read_source(flat)
    assert ds.format == "folder" and ds.classes == ("benign", "malignant")
    assert ds.counts() == {"train": {"benign": 3, "malignant": 3}}

    split = tmp_path / "split"
    for s in ("train", "test"):
        for c in ("a", "b"):
            write_image(split / s / c / f"{s}_{c}.jpg")
    ds = read_source(split)
    assert ds.splits == ("train", "test") and ds.problems == []


def test_folder_reports_stray_files(tmp_path: Path) -> None:
    write_image(tmp_path / "a" / "x.jpg")
    write_image(tmp_path / "b" / "y.jpg")
    (tmp_path / "a" / "notes.txt").write_text("hi")
    (tmp_path / ".DS_Store").write_text("mac")
    write_image(tmp_path / "loose.jpg")
    ds = read_source(tmp_path)
    names = sorted(p.path.name for p in ds.problems)
    assert names == ["loose.jpg", "notes.txt"]


@pytest.mark.parametrize("make", ["missing", "file", "empty"])
def test_unreadable_sources_raise_one_clear_error(tmp_path: Path, make: str) -> None:
    target = tmp_path / "src"
    if make == "file":
        target.write_text("x")
    elif make == "empty":
        target.mkdir()
    with pytest.raises(DataError, match=str(target)):
        read_source(target)


def test_explicit_format_is_checked(tmp_path: Path, isic2017_dir: Path) -> None:
    with pytest.raises(DataError, match="unknown format"):
        read_source(isic2017_dir, "nope")
    ds = read_source(isic2017_dir, "isic2017")
    assert len(ds.images) == 16
