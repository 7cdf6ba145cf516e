"""Precompute frozen EfficientNet-Lite features of prepared datasets (all rows, manifest order).

Also computes view 0 with ImageNet mean/std normalization instead of Lite's (x - 127) / 128,
for the normalization check (``norm_check.py``); those go to ``--out`` as .npy, not the cache.

    LESIONGAN_CACHE=/work/runs/h2-cache python scripts/classifier_sweep/precompute.py \
        /work/runs/isic128:128 /work/runs/isic64:64 /work/runs/isic64:128 --out /work/runs/h2-norm
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from lesiongan.backbones import build_backbone
from lesiongan.backbones.features import FeatureSpec, extract, file_features
from lesiongan.data.images import read_prepared_job
from lesiongan.data.manifest import load_dataset

IMAGENET_MEAN = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)


class ImagenetNorm(torch.nn.Module):
    """Undo Lite's normalization, apply ImageNet mean/std (so ``extract`` can be reused)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        unit = x * (128 / 255) + 127 / 255
        return self.net.forward_features((unit - IMAGENET_MEAN) / IMAGENET_STD)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("items", nargs="+", help="DATASET:SIZE")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--views", type=int, default=8)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    net = build_backbone(args.backbone, "imagenet").eval()
    for item in args.items:
        root, size = item.rsplit(":", 1)
        ds = load_dataset(Path(root))
        paths = [ds.root / r.path for r in ds.rows]
        t0 = time.perf_counter()
        spec = FeatureSpec(args.backbone, int(size), args.views)
        feats = file_features(paths, spec, net=net)
        print(f"{item}: lite-norm {feats.shape} in {time.perf_counter() - t0:.0f} s", flush=True)
        name = f"{Path(root).name}-{size}-{args.backbone}-imagenetnorm-v0.npy"
        if not (args.out / name).is_file():
            t0 = time.perf_counter()
            imgs = torch.from_numpy(
                np.stack([read_prepared_job((str(p), int(size))) for p in paths])
            )
            f0 = extract(ImagenetNorm(net), imgs, FeatureSpec(args.backbone, int(size), 1))
            np.save(args.out / name, f0[0])
            print(f"{item}: imagenet-norm in {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
