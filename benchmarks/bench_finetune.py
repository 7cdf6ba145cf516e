"""Fine-tuning throughput (images/s) of the pretrained recipe beside a minimal torch loop.

The recipe (``configs/classify-isic2017-pretrained.yaml``: EfficientNet-Lite0 at 128 px, batch
32, frozen batch norm, dihedral + crop + colour augmentation, per-sample soft cross-entropy,
AdamW with two parameter groups) runs through :class:`ClassifierTrainer` after its head warm-up
(the whole network trains); the minimal loop is what a user would write for the same network:
uint8 -> float, normalize, forward, cross-entropy, backward, fused AdamW. Rounds alternate
between the two (a loaded machine drifts), and the median round of each is kept.

    .venv/bin/python benchmarks/bench_finetune.py [--steps 4] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result
from lesiongan.classify.data import normalize
from lesiongan.classify.models import build_model, get_model_spec, head_module
from lesiongan.classify.samplers import build_pool, build_sampler
from lesiongan.classify.trainer import ClassifierTrainer, TrainingData
from lesiongan.config import load_config
from lesiongan.recipes import resolve_recipe

RECIPE = "classify-isic2017-pretrained"


def recipe_rate(images: torch.Tensor, labels: np.ndarray, steps: int, warmup: int) -> float:
    from lesiongan.classify.config import ClassifyConfig

    batch = 32
    cfg = load_config(
        ClassifyConfig, resolve_recipe(RECIPE), {"head_warmup_epochs": 0, "epochs": 2}
    )
    n = batch * (steps + warmup)
    sampler = build_sampler(build_pool(labels[:n], 3), "none", cfg.sampler_params())
    model = build_model(cfg.model, 3, cfg.pretrained)
    spec = get_model_spec(cfg.model)
    data = TrainingData(images[:n], images[:2], labels[:2], ["a", "b", "c"], spec.mean, spec.std)
    trainer = ClassifierTrainer(
        cfg, model, sampler, data, torch.device("cpu"), head_module(model, cfg.model)
    )
    trainer.cfg.tta_views = 1  # the one validation pass is not timed anyway
    times: list[float] = []
    trainer.train_one_epoch(lambda e: times.append(time.perf_counter()))
    return steps * batch / (times[-1] - times[warmup - 1])


def minimal_rate(images: torch.Tensor, labels: np.ndarray, steps: int, warmup: int) -> float:
    batch, name = 32, "efficientnet_lite0"
    spec = get_model_spec(name)
    model = build_model(name, 3, "imagenet").train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    y = torch.from_numpy(labels)
    t0 = 0.0
    for step in range(steps + warmup):
        if step == warmup:
            t0 = time.perf_counter()
        sl = slice(step * batch, (step + 1) * batch)
        x = normalize(images[sl].float() / 255, spec.mean, spec.std)
        loss = F.cross_entropy(model(x), y[sl])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = 32 * (args.steps + args.warmup)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 128, 128), generator=g, dtype=torch.uint8)
    labels = np.arange(n) % 3
    recipe, minimal = [], []
    for _ in range(args.rounds):
        recipe.append(recipe_rate(images, labels, args.steps, args.warmup))
        minimal.append(minimal_rate(images, labels, args.steps, args.warmup))
        print(f"recipe {recipe[-1]:.2f} img/s, minimal loop {minimal[-1]:.2f} img/s", flush=True)
    r, m = statistics.median(recipe), statistics.median(minimal)
    write_result(
        "finetune_cpu",
        {
            "command": f"benchmarks/bench_finetune.py --steps {args.steps} --warmup "
            f"{args.warmup} --rounds {args.rounds} --threads {args.threads}",
            "model": "efficientnet_lite0",
            "image_size": 128,
            "batch": 32,
            "threads": args.threads,
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),  # a shared machine
            "recipe_img_per_s": round(r, 2),
            "minimal_loop_img_per_s": round(m, 2),
            "ratio": round(r / m, 3),
            "rounds_recipe": [round(v, 2) for v in recipe],
            "rounds_minimal": [round(v, 2) for v in minimal],
        },
    )


if __name__ == "__main__":
    main()
