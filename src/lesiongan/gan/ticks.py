"""A training run's ticks: per-tick statistics, ``stats.jsonl``, sample grids and TensorBoard.

The loop adds every iteration's detached loss statistics (device tensors: no host sync per
step); a tick reads them once, checks that they are finite (all ranks agree), and writes one
JSON line, a grid of ``G_ema`` samples from fixed latents (one row per class) and the same
scalars to TensorBoard.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from lesiongan.gan.grid import save_grid
from lesiongan.utils.distributed import DistInfo
from lesiongan.utils.outdir import write_text_atomic


class TickStats:
    """Sums of the statistics since the last tick, and when the tick started."""

    def __init__(self, start_nimg: int) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.steps = 0
        self.rt: float | None = None
        self.start_nimg = start_nimg
        self.start_time = time.perf_counter()

    def add(self, stats: dict[str, torch.Tensor], rt: float | None) -> None:
        for k, v in stats.items():
            self.sums[k] = self.sums.get(k, 0) + v.float()
        self.steps += 1
        if rt is not None:
            self.rt = rt

    def means(self) -> dict[str, float]:
        return {k: float(v) / max(self.steps, 1) for k, v in self.sums.items()}  # one sync

    def finite(self, info: DistInfo) -> bool:
        if not self.sums:
            return True
        flag = torch.stack([v.float() for v in self.sums.values()]).isfinite().all().float()
        if info.enabled:
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
        return bool(flag)


def write_tick(
    run_dir: Path,
    stats: dict[str, Any],
    fakes: torch.Tensor,
    num_classes: int,
    cur_nimg: int,
    writer: Any = None,
) -> None:
    """Append ``stats`` to ``stats.jsonl``, save the grid of ``fakes``, log both to TensorBoard."""
    with open(run_dir / "stats.jsonl", "a") as f:
        f.write(json.dumps(stats) + "\n")
    grid = save_grid(fakes, num_classes, run_dir / "grids" / f"fakes-{cur_nimg:09d}.png")
    if writer is not None:
        for k, v in stats.items():
            if isinstance(v, (int, float)) and v is not None:
                writer.add_scalar(f"train/{k}", v, cur_nimg)
        writer.add_image("fakes", grid, cur_nimg, dataformats="HWC")
        writer.flush()


def truncate_stats(run_dir: Path, nimg: int) -> None:
    """Drop ``stats.jsonl``'s ticks after ``nimg`` (and a line cut short): a run killed after its
    last checkpoint logged ticks that the resumed run trains, and logs, again."""
    path = Path(run_dir) / "stats.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return
    kept = [line for line in lines if _tick_nimg(line) <= nimg]
    if kept != lines:
        write_text_atomic(path, "".join(f"{line}\n" for line in kept))


def _tick_nimg(line: str) -> float:
    try:
        return round(float(json.loads(line)["kimg"]) * 1000)
    except (ValueError, TypeError, KeyError):
        return float("inf")
