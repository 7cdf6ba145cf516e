"""Run by tests/gan/test_distributed.py under torchrun: train, then record parameter hashes."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch
from gan_helpers import tiny_config

from lesiongan.gan.checkpoint import latest_checkpoint
from lesiongan.gan.trainer import Trainer


def digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for t in module.state_dict().values():
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()


captured: dict[str, str] = {}
original_run = Trainer.run


def run_and_capture(self: Trainer, *args, **kwargs):
    original_run(self, *args, **kwargs)
    captured.update(
        G=digest(self.G), D=digest(self.D), G_ema=digest(self.G_ema), p=str(float(self.augment.p))
    )


def main() -> None:
    torch.set_num_threads(1)
    dataset, out = Path(sys.argv[1]), Path(sys.argv[2])
    Trainer.run = run_and_capture
    from lesiongan.gan.run import run_training

    cfg = tiny_config(**{"schedule.stabilize_kimg": 0.2, "schedule.fade_kimg": 0.2})
    run_training(dataset, out, cfg)
    rank = int(os.environ["RANK"])
    (out.parent / f"rank{rank}.json").write_text(json.dumps(captured))
    if rank == 0:
        assert latest_checkpoint(out).is_file()


if __name__ == "__main__":
    main()
