"""ISIC 2019 and ISIC 2018 task 3 ground truth: one-hot CSVs.

- ISIC 2019: ``ISIC_2019_{Training,Test}_GroundTruth.csv`` (``image,MEL,NV,BCC,AK,BKL,DF,VASC,
  SCC,UNK``; the test file adds ``score_weight``) with images in ``ISIC_2019_{split}_Input/``;
  lesion ids from ``ISIC_2019_Training_Metadata.csv`` when present.
- ISIC 2018 task 3: ``ISIC2018_Task3_{Training,Validation,Test}_GroundTruth.csv``
  (``image,MEL,NV,BCC,AKIEC,BKL,DF,VASC``) with images in ``ISIC2018_Task3_{split}_Input/``;
  lesion ids from ``ISIC2018_Task3_Training_LesionGroupings.csv`` when present.

Every row must have exactly one 1. A class column nobody uses (ISIC 2019's ``UNK``) is dropped.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from lesiongan.data.readers.csvfile import index_images, parse_binary, read_label_csv
from lesiongan.data.source import IMAGE_SUFFIXES, SourceDataset, SourceImage, check_empty_classes
from lesiongan.errors import DataError

CODE_NAMES = {
    "MEL": "melanoma",
    "NV": "nevus",
    "BCC": "basal_cell_carcinoma",
    "AK": "actinic_keratosis",
    "AKIEC": "actinic_keratosis",
    "BKL": "benign_keratosis",
    "DF": "dermatofibroma",
    "VASC": "vascular_lesion",
    "SCC": "squamous_cell_carcinoma",
    "UNK": "unknown",
}
_GT_RE = re.compile(
    r"^(?P<prefix>ISIC_2019|ISIC2018_Task3)_(?P<split>Training|Validation|Test)_GroundTruth\.csv$"
)
_SPLIT_NAMES = {"Training": "train", "Validation": "val", "Test": "test"}
_GROUP_FILES = {
    "ISIC_2019": ("ISIC_2019_Training_Metadata.csv", "image"),
    "ISIC2018_Task3": ("ISIC2018_Task3_Training_LesionGroupings.csv", "image"),
}


def looks_like_isic_onehot(root: Path) -> bool:
    return any(_GT_RE.match(p.name) for p in root.iterdir())


def read_isic_onehot(root: Path) -> SourceDataset:
    gts = [(m, p) for p in sorted(root.iterdir()) if (m := _GT_RE.match(p.name))]
    if not gts:
        raise DataError(
            f"{root}: no ISIC_2019_*_GroundTruth.csv or ISIC2018_Task3_*_GroundTruth.csv here "
            "(they must sit directly in this folder)"
        )
    prefix = gts[0][0]["prefix"]
    fmt = "isic2019" if prefix == "ISIC_2019" else "isic2018"
    ds = SourceDataset(format=fmt, root=root, classes=())
    groups = _read_groups(ds, root, prefix)
    used: set[str] = set()
    all_codes: list[str] = []
    for m, csv_path in gts:
        if m["prefix"] != prefix:
            ds.add_problem(csv_path, f"mixes {m['prefix']} with {prefix} ground truth", "bad_csv")
            continue
        split = _SPLIT_NAMES[m["split"]]
        images = index_images(root / f"{prefix}_{m['split']}_Input", IMAGE_SUFFIXES)
        codes = _read_codes(csv_path)
        all_codes += [c for c in codes if c not in all_codes]
        optional = (*(c for c in codes if c in CODE_NAMES), "score_weight")
        listed: set[str] = set()
        for line, row in read_label_csv(ds, csv_path, required=("image",), optional=optional):
            image_id = row["image"]
            if image_id in listed:
                ds.add_problem(
                    csv_path,
                    f"line {line}: duplicate image id {image_id!r}",
                    "duplicate_id",
                    image_id,
                )
                continue
            listed.add(image_id)
            hot = [c for c in codes if c in CODE_NAMES and parse_binary(row.get(c, "")) == 1]
            bad = [c for c in codes if c in CODE_NAMES and parse_binary(row.get(c, "")) is None]
            if bad or len(hot) != 1:
                why = (
                    f"non-binary value in {', '.join(bad)}"
                    if bad
                    else f"{len(hot)} classes marked ({', '.join(hot) or 'none'})"
                )
                ds.add_problem(
                    csv_path,
                    f"line {line}: {image_id}: expected exactly one class, {why}",
                    "bad_label",
                    image_id,
                )
                continue
            path = images.get(image_id)
            if path is None:
                ds.add_problem(
                    csv_path,
                    f"line {line}: image {image_id} not found in {prefix}_{m['split']}_Input",
                    "missing_image",
                    image_id,
                )
                continue
            used.add(hot[0])
            ds.images.append(
                SourceImage(
                    image_id, CODE_NAMES[hot[0]], split, path, groups.get(image_id) or image_id
                )
            )
        dup = {p.image_id for p in ds.problems if p.kind == "duplicate_id" and p.path == csv_path}
        ds.images = [im for im in ds.images if not (im.split == split and im.image_id in dup)]
        for image_id, path in images.items():
            if image_id not in listed:
                ds.add_problem(
                    path, f"image has no row in {csv_path.name}", "unlabelled_image", image_id
                )
    ds.classes = tuple(
        CODE_NAMES[c] for c in all_codes if c in CODE_NAMES and (c in used or c != "UNK")
    )
    check_empty_classes(ds, root)
    return ds


def _read_codes(csv_path: Path) -> list[str]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    return [h.strip() for h in header if h.strip() not in ("image", "score_weight")]


def _read_groups(ds: SourceDataset, root: Path, prefix: str) -> dict[str, str]:
    """image -> lesion_id from the metadata file, where it exists (empty ids are skipped).

    An unreadable file is a problem, not an empty grouping: without it a lesion's images could
    straddle train and test."""
    name, key = _GROUP_FILES[prefix]
    path = root / name
    if not path.is_file():
        return {}
    ds.files.append(path)
    out: dict[str, str] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                lesion = (row.get("lesion_id") or "").strip()
                if lesion and row.get(key):
                    out[row[key].strip()] = lesion
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        ds.add_problem(path, f"unreadable lesion grouping file ({type(exc).__name__})", "bad_csv")
        return {}
    return out
