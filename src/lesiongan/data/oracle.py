"""An "oracle" synthetic directory: real images in the synthetic format.

Label-scarcity experiments ask how much a perfect generator could add: the training images a
fraction left out, used in place of synthetic ones, by the same strategies. Written in the
synthetic directory format (:mod:`lesiongan.data.synthetic`) so that every strategy reads it
unchanged: images copied in (paths stay inside the directory), ``seed`` 0, no checkpoint, empty
``d_score`` (no discriminator: strategies that need one refuse it), and the images' own
``source_sha256`` as "the generator's training images", so the leakage guard still refuses a
test split that contains any of them.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lesiongan.data.manifest import ManifestRow, dataset_fingerprint, split_fingerprint
from lesiongan.data.synthetic import GAN_TRAIN_IMAGES, ManifestWriter, image_relpath, write_info

GENERATOR = "oracle: held-out real training images"


def write_oracle_directory(
    dataset: Path, rows: Sequence[ManifestRow], tmp: Path, extra: dict[str, Any] | None = None
) -> None:
    """Fill ``tmp`` (an empty directory) with ``rows`` of the prepared ``dataset``."""
    counts: dict[str, int] = {}
    with ManifestWriter(tmp) as writer:
        for r in rows:
            rel = image_relpath(r.label, r.image_id)
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(dataset) / r.path, tmp / rel)
            writer.write(
                {
                    "image_id": r.image_id,
                    "label": r.label,
                    "path": rel,
                    "seed": 0,
                    "checkpoint_sha256": "",
                    "d_score": None,
                    "resolution": r.width,
                }
            )
            counts[r.label] = counts.get(r.label, 0) + 1
    with open(tmp / GAN_TRAIN_IMAGES, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["image_id", "source_sha256"])
        w.writerows([r.image_id, r.source_sha256] for r in rows)
    write_info(
        tmp,
        {
            "generator": GENERATOR,
            "dataset": str(Path(dataset).resolve()),
            "dataset_fingerprint": dataset_fingerprint(dataset),
            "images_fingerprint": split_fingerprint(list(rows), rows[0].split) if rows else None,
            "counts": counts,
            "real_scores_missing_reason": "real images: there is no discriminator",
            **(extra or {}),
        },
    )
