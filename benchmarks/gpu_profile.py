"""Where a 256 px training step spends its time on CUDA (diagnostics for speeding it up).

Prints the top CUDA kernels of a few eager steps (torch.profiler), A/B-times pixel norm as a
fused ``F.rms_norm`` over the channels-last view, and counts torch.compile recompilations and
graph breaks. Results go to ``benchmarks/results/gan_profile_cuda.json``.

    python3 benchmarks/gpu_profile.py --config gan-paper-256
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lesiongan.gan.networks as networks
from bench_gan_train import measure
from common import write_result
from lesiongan.config import load_config
from lesiongan.gan.config import GanConfig
from lesiongan.recipes import resolve_recipe


def fused_pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    # channels_last: the NHWC view is contiguous, so rms_norm over C is one fused kernel
    if x.dim() == 2:
        return F.rms_norm(x, (x.shape[1],), eps=eps)
    return F.rms_norm(x.permute(0, 2, 3, 1), (x.shape[1],), eps=eps).permute(0, 3, 1, 2)


def profile_steps(cfg: GanConfig, resolution: int) -> list[dict]:
    from torch.profiler import ProfilerActivity, profile

    import bench_gan_train as b

    captured = {}
    original = b.Trainer.step

    def step(self):  # profile three steps after warm-up
        captured.setdefault("n", 0)
        captured["n"] += 1
        if captured["n"] == 6:
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for _ in range(3):
                    original(self)
                torch.cuda.synchronize()
            captured["table"] = prof.key_averages()
        else:
            original(self)

    b.Trainer.step = step
    try:
        measure(cfg, resolution, steps=2, warmup=6)
    finally:
        b.Trainer.step = original
    rows = sorted(captured["table"], key=lambda e: e.self_device_time_total, reverse=True)[:25]
    total = sum(e.self_device_time_total for e in captured["table"])
    return [
        {
            "kernel": e.key[:90],
            "share": round(e.self_device_time_total / total, 4),
            "calls": e.count,
        }
        for e in rows
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="gan-paper-256")
    ap.add_argument("--resolution", type=int, default=256)
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    cfg = load_config(GanConfig, resolve_recipe(args.config))
    result = {"command": " ".join(sys.argv)}
    result["eager"] = measure(cfg, args.resolution, steps=20, warmup=5)
    print("eager", result["eager"], flush=True)
    original = networks.pixel_norm
    networks.pixel_norm = fused_pixel_norm
    try:
        result["eager_fused_pixel_norm"] = measure(cfg, args.resolution, steps=20, warmup=5)
    finally:
        networks.pixel_norm = original
    print("fused pixel norm", result["eager_fused_pixel_norm"], flush=True)
    result["top_kernels"] = profile_steps(cfg, args.resolution)
    for row in result["top_kernels"][:15]:
        print(row, flush=True)
    from torch._dynamo.utils import counters

    counters.clear()
    compiled = cfg.model_copy(deep=True)
    compiled.runtime.compile = True
    t0 = time.perf_counter()
    result["compiled"] = measure(compiled, args.resolution, steps=20, warmup=10)
    result["compile_wall_s"] = round(time.perf_counter() - t0, 1)
    result["dynamo_counters"] = {
        k: dict(v) for k, v in counters.items() if k in ("stats", "graph_break", "recompiles")
    }
    print("compiled", result["compiled"], result["dynamo_counters"], flush=True)
    write_result("gan_profile_cuda", result)


if __name__ == "__main__":
    main()
