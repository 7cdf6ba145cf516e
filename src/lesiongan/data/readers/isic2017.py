"""ISIC 2017 (task 3, lesion classification) in the official layout.

``ISIC-2017_{Training,Validation,Test_v2}_Data/ISIC_*.jpg`` with
``ISIC-2017_*_Part3_GroundTruth.csv`` (``image_id,melanoma,seborrheic_keratosis``; both 0 means
nevus). The data folders also hold ``*_superpixels.png`` files and a ``*_metadata.csv``, which are
ignored; any other file there is reported.
"""

from __future__ import annotations

import re
from pathlib import Path

from lesiongan.data.readers.csvfile import index_images, parse_binary, read_label_csv
from lesiongan.data.source import SourceDataset, SourceImage, check_empty_classes, is_ignored_name

CLASSES = ("melanoma", "seborrheic_keratosis", "nevus")
_SPLIT_NAMES = {"training": "train", "validation": "val", "test": "test", "test_v2": "test"}
_GT_RE = re.compile(r"^ISIC-2017_(?P<split>[A-Za-z0-9_]+?)_Part3_GroundTruth\.csv$")
_DATA_RE = re.compile(r"^ISIC-2017_(?P<split>[A-Za-z0-9_]+?)_Data$")


def looks_like_isic2017(root: Path) -> bool:
    return any(_GT_RE.match(p.name) or _DATA_RE.match(p.name) for p in root.iterdir())


def read_isic2017(root: Path) -> SourceDataset:
    ds = SourceDataset(format="isic2017", root=root, classes=CLASSES)
    gts = {m["split"]: p for p in sorted(root.iterdir()) if (m := _GT_RE.match(p.name))}
    datas = {
        m["split"]: p
        for p in sorted(root.iterdir())
        if (m := _DATA_RE.match(p.name)) and p.is_dir()
    }
    for name in sorted(set(gts) | set(datas)):
        split = _SPLIT_NAMES.get(name.lower())
        where = gts.get(name) or datas[name]
        if split is None:
            ds.add_problem(where, f"unknown ISIC 2017 split name {name!r}", "unknown_split")
            continue
        if name not in gts:
            ds.add_problem(
                datas[name],
                f"no ground truth CSV (expected ISIC-2017_{name}_Part3_GroundTruth.csv in {root})",
                "missing_labels",
            )
            continue
        data_dir = datas.get(name, root / f"ISIC-2017_{name}_Data")
        _read_split(ds, gts[name], data_dir, split)
    check_empty_classes(ds, root)
    return ds


def _read_split(ds: SourceDataset, csv_path: Path, data_dir: Path, split: str) -> None:
    images = index_images(data_dir, (".jpg", ".jpeg"))
    _report_stray_files(ds, data_dir)
    listed: set[str] = set()
    first_line: dict[str, int] = {}
    rows = read_label_csv(ds, csv_path, required=("image_id", "melanoma", "seborrheic_keratosis"))
    for line, row in rows:
        image_id = row["image_id"]
        if not image_id:
            ds.add_problem(csv_path, f"line {line}: empty image_id", "bad_row")
            continue
        if image_id in first_line:
            ds.add_problem(
                csv_path,
                f"line {line}: duplicate image id {image_id!r} "
                f"(first on line {first_line[image_id]})",
                "duplicate_id",
                image_id,
            )
            listed.add(image_id)
            continue
        first_line[image_id] = line
        listed.add(image_id)
        mel, sk = parse_binary(row["melanoma"]), parse_binary(row["seborrheic_keratosis"])
        if mel is None or sk is None:
            ds.add_problem(
                csv_path,
                f"line {line}: {image_id}: labels must be 0 or 1, got melanoma="
                f"{row['melanoma']!r}, seborrheic_keratosis={row['seborrheic_keratosis']!r}",
                "bad_label",
                image_id,
            )
            continue
        if mel and sk:
            ds.add_problem(
                csv_path,
                f"line {line}: {image_id}: marked both melanoma and seborrheic keratosis",
                "bad_label",
                image_id,
            )
            continue
        label = "melanoma" if mel else "seborrheic_keratosis" if sk else "nevus"
        path = images.get(image_id)
        if path is None:
            ds.add_problem(
                csv_path,
                f"line {line}: image {image_id}.jpg not found in {data_dir}",
                "missing_image",
                image_id,
            )
            continue
        ds.images.append(SourceImage(image_id, label, split, path, group=image_id))
    # An id listed twice is ambiguous: drop every copy (the first was appended above).
    dup = {p.image_id for p in ds.problems if p.kind == "duplicate_id" and p.path == csv_path}
    ds.images = [im for im in ds.images if not (im.split == split and im.image_id in dup)]
    for image_id, path in images.items():
        if image_id not in listed:
            ds.add_problem(
                path, f"image has no row in {csv_path.name}", "unlabelled_image", image_id
            )


def _report_stray_files(ds: SourceDataset, data_dir: Path) -> None:
    if not data_dir.is_dir():
        return
    for p in sorted(data_dir.iterdir()):
        name = p.name
        if (
            is_ignored_name(name)
            or name.endswith("_superpixels.png")
            or name.endswith("_metadata.csv")
        ):
            continue
        if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg"):
            continue
        ds.add_problem(p, "unexpected file in an ISIC 2017 data folder", "unexpected_file")
