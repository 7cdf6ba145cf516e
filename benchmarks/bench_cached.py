"""The cached-feature path: feature extraction speed and the time of one classifier cell.

- Extraction: frozen EfficientNet-Lite0 forward passes (eval mode, batch 64) on random uint8
  images at each size, in images (views) per second.
- One cell: ``classify train --mode cached`` end to end (features read from the cache,
  standardized, a linear head trained for the recipe's epochs over the strategy's sampler,
  selection on validation, 8-view TTA, test metrics with 1000 bootstrap resamples,
  predictions.csv, model.pt with the head folded into the backbone, plots), on a prepared
  dataset whose features are already cached (``--dataset``; by default the poster split at
  128 px under /work/runs/isic128, else skipped).

    LESIONGAN_CACHE=... .venv/bin/python benchmarks/bench_cached.py [--dataset DIR] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result
from lesiongan.backbones import build_backbone
from lesiongan.backbones.features import FeatureSpec, extract
from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.features import precompute_features
from lesiongan.classify.run import run_classify

CELL = {
    "mode": "cached",
    "model": "efficientnet_lite0",
    "pretrained": "imagenet",
    "image_size": 128,
    "epochs": 30,
    "batch_size": 64,
    "tta_views": 8,
}


def extraction_rate(size: int, n: int) -> float:
    net = build_backbone("efficientnet_lite0", "imagenet")
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)
    spec = FeatureSpec("efficientnet_lite0", size, 1)
    extract(net, images[:8], spec)  # warm-up
    t0 = time.perf_counter()
    extract(net, images, spec)
    return n / (time.perf_counter() - t0)


def cell_seconds(dataset: Path, strategy: str) -> float:
    cfg = ClassifyConfig(**CELL, strategy=strategy)
    precompute_features(dataset, cfg, workers=1)  # a no-op when cached, as in an experiment
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_classify(dataset, Path(tmp) / "run", cfg, workers=1)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=Path("/work/runs/isic128"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    result: dict = {
        "command": f"benchmarks/bench_cached.py --dataset {args.dataset} --sizes "
        f"{' '.join(map(str, args.sizes))} --n {args.n} --threads {args.threads}",
        "threads": args.threads,
        "extraction_img_per_s": {
            f"{s}px": round(extraction_rate(s, args.n), 1) for s in args.sizes
        },
    }
    if args.dataset.is_dir():
        result["cell"] = {"dataset": str(args.dataset), **CELL}
        result["cell_seconds"] = {
            s: round(cell_seconds(args.dataset, s), 1) for s in ("none", "oversample")
        }
    result["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)  # a shared machine
    write_result("cached_cpu", result)


if __name__ == "__main__":
    main()
