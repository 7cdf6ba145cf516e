"""Classifier training and inference throughput (images per second) per backbone and size.

Times full training steps of :class:`~lesiongan.classify.trainer.ClassifierTrainer` (batch
augmentation on device, forward, per-sample soft cross-entropy, backward, AdamW) on random uint8
images, after warm-up, and batched inference. CPU by default (both cores, nothing else running);
CUDA when present uses bf16 autocast and channels_last. Results go to
``benchmarks/results/classify_<device>.json``.

    .venv/bin/python benchmarks/bench_classify.py --sizes 64 224 --models resnet18
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result
from lesiongan.classify.config import ClassifyConfig
from lesiongan.classify.models import build_model
from lesiongan.classify.samplers import build_pool, build_sampler
from lesiongan.classify.trainer import ClassifierTrainer, TrainingData
from lesiongan.utils.device import resolve_device


def measure(model_name: str, size: int, batch: int, steps: int, warmup: int, device) -> dict:
    n = batch * (steps + warmup)
    cfg = ClassifyConfig(model=model_name, image_size=size, batch_size=batch, epochs=2)
    labels = np.arange(n) % 3
    sampler = build_sampler(build_pool(labels, 3), "none", cfg.sampler_params())
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)
    data = TrainingData(images, images[:batch], labels[:batch], ["a", "b", "c"])
    trainer = ClassifierTrainer(cfg, build_model(model_name, 3), sampler, data, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times: list[float] = []

    def on_step(_event: dict) -> None:
        sync()
        times.append(time.perf_counter())

    trainer.train_one_epoch(on_step)  # includes one validation pass (timed separately below)
    train_dt = times[-1] - times[warmup - 1]
    eval_images = images[: 4 * batch]
    trainer.predict(eval_images)
    sync()
    t0 = time.perf_counter()
    trainer.predict(eval_images)
    sync()
    eval_dt = time.perf_counter() - t0
    return {
        "model": model_name,
        "image_size": size,
        "batch": batch,
        "steps_timed": steps,
        "train_img_per_s": round(steps * batch / train_dt, 1),
        "eval_img_per_s": round(eval_images.shape[0] / eval_dt, 1),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["resnet18"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 224])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    runs = [
        measure(m, s, args.batch, args.steps, args.warmup, device)
        for m in args.models
        for s in args.sizes
    ]
    write_result(f"classify_{device.type}", {"threads": torch.get_num_threads(), "runs": runs})


if __name__ == "__main__":
    main()
