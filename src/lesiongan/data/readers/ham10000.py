"""HAM10000 (the ISIC 2018 task 3 training set).

``HAM10000_metadata.csv`` (``lesion_id,image_id,dx,dx_type,age,sex,localization`` and, in newer
releases, ``dataset``) with the JPEGs in ``HAM10000_images_part_1/``, ``HAM10000_images_part_2/``
or any folder below the root. One lesion has several images, so images carry their
``lesion_id`` as group: splits keep a lesion's images together.
"""

from __future__ import annotations

from pathlib import Path

from lesiongan.data.readers.csvfile import read_label_csv
from lesiongan.data.source import (
    IMAGE_SUFFIXES,
    SourceDataset,
    SourceImage,
    check_empty_classes,
    is_ignored_name,
)

METADATA = "HAM10000_metadata.csv"
# dx codes -> class names shared with the other readers (so `melanoma` is always `melanoma`).
DX_NAMES = {
    "akiec": "actinic_keratosis",
    "bcc": "basal_cell_carcinoma",
    "bkl": "benign_keratosis",
    "df": "dermatofibroma",
    "mel": "melanoma",
    "nv": "nevus",
    "vasc": "vascular_lesion",
}
CLASSES = tuple(sorted(DX_NAMES.values()))


def looks_like_ham10000(root: Path) -> bool:
    return (root / METADATA).is_file()


def read_ham10000(root: Path) -> SourceDataset:
    ds = SourceDataset(format="ham10000", root=root, classes=CLASSES)
    csv_path = root / METADATA
    images = _index_images_recursive(ds, root)
    listed: dict[str, int] = {}
    rows = read_label_csv(
        ds,
        csv_path,
        required=("lesion_id", "image_id", "dx"),
        optional=("dx_type", "age", "sex", "localization", "dataset"),
    )
    for line, row in rows:
        image_id, lesion_id, dx = row["image_id"], row["lesion_id"], row["dx"].lower()
        if not image_id or not lesion_id:
            ds.add_problem(csv_path, f"line {line}: empty image_id or lesion_id", "bad_row")
            continue
        if image_id in listed:
            ds.add_problem(
                csv_path,
                f"line {line}: duplicate image id {image_id!r} (first on line {listed[image_id]})",
                "duplicate_id",
                image_id,
            )
            continue
        listed[image_id] = line
        if dx not in DX_NAMES:
            ds.add_problem(
                csv_path,
                f"line {line}: {image_id}: unknown dx {row['dx']!r} (known: {', '.join(DX_NAMES)})",
                "bad_label",
                image_id,
            )
            continue
        path = images.get(image_id)
        if path is None:
            ds.add_problem(
                csv_path,
                f"line {line}: image {image_id}.jpg not found under {root}",
                "missing_image",
                image_id,
            )
            continue
        ds.images.append(SourceImage(image_id, DX_NAMES[dx], "train", path, group=lesion_id))
    dup = {p.image_id for p in ds.problems if p.kind == "duplicate_id"}
    ds.images = [im for im in ds.images if im.image_id not in dup]
    for image_id, path in images.items():
        if image_id not in listed:
            ds.add_problem(path, f"image has no row in {METADATA}", "unlabelled_image", image_id)
    check_empty_classes(ds, csv_path)
    return ds


def _index_images_recursive(ds: SourceDataset, root: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if any(is_ignored_name(part) for part in p.relative_to(root).parts) or not p.is_file():
            continue
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if p.stem in out:
            ds.add_problem(
                p, f"duplicate image id {p.stem!r} (also {out[p.stem]})", "duplicate_id", p.stem
            )
            continue
        out[p.stem] = p
    return out
