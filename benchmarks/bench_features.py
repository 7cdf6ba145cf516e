"""Feature extraction speed (images/s) of each ``eval`` extractor on this machine.

The Inception network gets random weights of the right architecture (speed does not depend on
the values); ``domain`` is a ResNet-18 classifier at 128 px.

    .venv/bin/python benchmarks/bench_features.py [--n 64] [--size 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result
from lesiongan.classify.models import build_model, save_classifier
from lesiongan.evaluate import features as feat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    images = np.random.default_rng(0).integers(0, 256, (args.n, args.size, args.size, 3), np.uint8)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / feat.INCEPTION_FILE
        torch.save(feat.random_inception_state_dict(0), weights)
        save_classifier(
            Path(tmp) / "model.pt", build_model("resnet18", 3), "resnet18", ["a", "b", "c"], 128
        )
        extractors = {
            "inception": feat.build_extractor("inception", device, inception_weights=weights),
            "domain_resnet18_128px": feat.build_extractor("domain", device, classifier=Path(tmp)),
            "random": feat.build_extractor("random", device),
        }
        for name, ex in extractors.items():
            feat.compute_features(ex, images[:8], batch_size=8)  # warm-up
            t0 = time.perf_counter()
            feat.compute_features(ex, images, batch_size=32)
            dt = time.perf_counter() - t0
            results[name] = round(args.n / dt, 1)
    write_result(
        f"eval_features_{device.type}",
        {
            "command": f"benchmarks/bench_features.py --n {args.n} --size {args.size} "
            f"--threads {args.threads} --device {args.device}",
            "input_px": args.size,
            "threads": args.threads,
            "images_per_s": results,
        },
    )


if __name__ == "__main__":
    main()
