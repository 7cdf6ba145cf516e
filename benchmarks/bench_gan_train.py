"""GAN training throughput (images shown to D per second) at a fixed resolution.

Builds the trainer from a recipe on random uint8 images (no dataset needed), jumps to the
stabilization phase of ``--resolution`` and times full training iterations (D step with
gradient penalty + G step + EMA), after warm-up. CPU and CUDA; on CUDA it also tries
``torch.compile``. Results go to ``benchmarks/results/gan_train_<device>.json``.

``--arch pggan stylegan2`` measures each family on the same recipe (StyleGAN2 networks are
built at exactly ``--resolution``, as they train; PGGAN at the recipe's resolution or above).

    .venv/bin/python benchmarks/bench_gan_train.py --config configs/gan-demo.yaml --resolution 32
    python3 benchmarks/bench_gan_train.py --config gan-paper-256 --resolution 256 --compile
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_gan_train.py --config gan-demo \
        --arch pggan stylegan2 --resolution 32 64 --set network.fmap_base=2048 --name gan_arch_cpu
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result
from lesiongan.config import load_config, parse_overrides
from lesiongan.gan.config import GanConfig
from lesiongan.gan.data import TrainImages
from lesiongan.gan.trainer import Trainer, resolve_device
from lesiongan.recipes import resolve_recipe
from lesiongan.utils.distributed import DistInfo


def measure(cfg: GanConfig, resolution: int, steps: int, warmup: int) -> dict:
    cfg = cfg.model_copy(deep=True)
    if cfg.network.arch == "stylegan2":  # not progressive: the network is the resolution
        cfg.network.resolution = resolution
    else:
        cfg.network.resolution = max(cfg.network.resolution, resolution)
    n = 256
    data = TrainImages(
        images=torch.randint(
            0, 256, (n, 3, cfg.network.resolution, cfg.network.resolution), dtype=torch.uint8
        ),
        labels=torch.arange(n) % 3,
        classes=("a", "b", "c"),
        image_ids=[str(i) for i in range(n)],
        source_sha256=[""] * n,
    )
    info = DistInfo()
    device = resolve_device(cfg.runtime.device, info)
    trainer = Trainer(cfg, data, Path("/nonexistent"), info, device)
    phase = next(p for p in trainer.phases if p.resolution == resolution and p.kind == "stabilize")
    trainer.cur_nimg = phase.start_nimg
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        trainer.step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    sync()
    dt = time.perf_counter() - t0
    return {
        "arch": cfg.network.arch,
        "resolution": resolution,
        "batch": phase.batch_size,
        "steps": steps,
        "channels": cfg.network.channels(resolution),
        "precision": "bf16" if trainer.bf16 else "fp32",
        "channels_last": trainer.channels_last,
        "compile": cfg.runtime.compile,
        "img_per_s": round(steps * phase.batch_size / dt, 1),
        "sec_per_step": round(dt / steps, 4),
        "peak_mem_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2)
        if device.type == "cuda"
        else None,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=Path("configs/gan-demo.yaml"))
    ap.add_argument("--resolution", type=int, nargs="+", default=[32])
    ap.add_argument(
        "--arch", nargs="+", choices=["pggan", "stylegan2"], help="default: the recipe's"
    )
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="also measure with torch.compile (CUDA)")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--name", default=None, help="result file name (default: gan_train_<device>)")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    sets, recipe = parse_overrides(args.overrides), resolve_recipe(args.config)
    # each family validates its own network section: arch is set before validation
    archs = [{"network.arch": a} for a in args.arch] if args.arch else [{}]
    configs = [load_config(GanConfig, recipe, {**sets, **a}) for a in archs]
    runs = []
    for run_cfg in configs:
        for res in args.resolution:
            runs.append(measure(run_cfg, res, args.steps, args.warmup))
            print(runs[-1], flush=True)
            if args.compile and torch.cuda.is_available():
                compiled = run_cfg.model_copy(deep=True)
                compiled.runtime.compile = True
                # compile settles late
                runs.append(measure(compiled, res, args.steps, args.warmup + 10))
                print(runs[-1], flush=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    write_result(
        args.name or f"gan_train_{device}",
        {
            "command": " ".join(sys.argv),
            "config": str(args.config),
            "overrides": args.overrides,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
