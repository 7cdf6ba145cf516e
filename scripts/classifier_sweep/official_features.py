"""Cache the features of the official-split dataset (2000 train + 150 val as test) by reusing
those of the poster-split dataset for byte-identical image files, and computing the rest.

Both datasets are prepared from the same source files at the same size, so the 2000 training
PNGs are byte-identical (checked per file by sha256); features are per image (eval mode), so
the matrix equals what ``file_features`` would compute, at a fraction of the cost (a loaded
2-core machine computes ~3 images/s at 128 px).

    LESIONGAN_CACHE=/work/runs/h2-cache python scripts/classifier_sweep/official_features.py \
        /work/runs/isic128 /work/runs/isic128-official --size 128
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import torch

from lesiongan.backbones import build_backbone
from lesiongan.backbones.features import (
    FeatureSpec,
    _save,
    default_cache_dir,
    extract,
    file_features,
    files_fingerprint,
)
from lesiongan.data.images import read_prepared_job
from lesiongan.data.manifest import load_dataset
from lesiongan.utils.hashing import sha256_file


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("donor", type=Path)
    ap.add_argument("target", type=Path)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--views", type=int, default=8)
    args = ap.parse_args()
    spec = FeatureSpec("efficientnet_lite0", args.size, args.views)
    donor = load_dataset(args.donor)
    donor_paths = [donor.image_path(r) for r in donor.rows]
    donor_feats = file_features(donor_paths, spec)  # from the cache
    by_sha = {sha256_file(p): i for i, p in enumerate(donor_paths)}
    target = load_dataset(args.target)
    paths = [target.image_path(r) for r in target.rows]
    shas = [sha256_file(p) for p in paths]
    missing = [i for i, s in enumerate(shas) if s not in by_sha]
    print(f"{len(paths) - len(missing)} of {len(paths)} images reused; computing {len(missing)}")
    feats = np.empty((spec.views, len(paths), donor_feats.shape[2]), np.float32)
    for i, s in enumerate(shas):
        if s in by_sha:
            feats[:, i] = donor_feats[:, by_sha[s]]
    if missing:
        images = torch.from_numpy(
            np.stack([read_prepared_job((str(paths[i]), args.size)) for i in missing])
        )
        net = build_backbone(spec.backbone, "imagenet")
        feats[:, missing] = extract(net, images, spec)
    fingerprint = files_fingerprint(paths)
    key = hashlib.sha256(f"{fingerprint}:{spec.id}".encode()).hexdigest()[:40]
    meta = {"spec": spec.id, "n": len(paths), "files": fingerprint, "first": str(paths[0])}
    _save(default_cache_dir() / f"{key}.npy", feats, meta)
    again = file_features(paths, spec)  # the library finds it under its own key
    assert np.array_equal(again, feats)
    print(f"cached {again.shape} for {args.target}")


if __name__ == "__main__":
    main()
