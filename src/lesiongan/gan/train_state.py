"""What a checkpoint holds of a :class:`~lesiongan.gan.trainer.Trainer`, and going back to one.

A checkpoint carries the config, the networks, the optimizer states, the augmentation and ADA
state, the batch sampler and every RNG, so that a resumed run equals an uninterrupted one on
CPU. A family without a discriminator stores ``D`` and ``opt_D`` as None. After non-finite
losses the trainer rolls back to the latest checkpoint and takes another random path.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import torch

from lesiongan.errors import LesionganError
from lesiongan.gan.checkpoint import latest_checkpoint, load_checkpoint

if TYPE_CHECKING:
    from lesiongan.gan.trainer import Trainer

log = logging.getLogger(__name__)


class TrainingDiverged(LesionganError):
    """Losses stayed non-finite after every allowed rollback."""


def trainer_state(t: Trainer) -> dict[str, Any]:
    """Everything a checkpoint holds of a trainer: config, networks, optimizers, every RNG."""
    return {
        "config": t.cfg.model_dump(mode="json"),
        "classes": list(t.classes),
        "cur_nimg": t.cur_nimg,
        "tick": t.tick,
        "stage": t.stage,
        "phase_index": t.phase_index,
        "rollbacks": t.rollbacks,
        "batch_idx": t.batch_idx,
        "train_seconds": t.train_seconds,
        "G": t.G.state_dict(),
        "D": None if t.D is None else t.D.state_dict(),
        "G_ema": t.G_ema.state_dict(),
        "opt_G": t.opt_G.state_dict() if t.opt_G else None,
        "opt_D": t.opt_D.state_dict() if t.opt_D else None,
        "augment": t.augment.state_dict(),
        "ada": t.ada.state_dict(),
        "sampler": t.sampler.state_dict(),
        "latent_gen": t.latent_gen.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(t.device) if t.device.type == "cuda" else None,
    }


def load_trainer_state(t: Trainer, s: dict[str, Any]) -> None:
    """Continue exactly where the checkpoint ``s`` left off."""
    t.G.load_state_dict(s["G"])
    if t.D is not None:
        t.D.load_state_dict(s["D"])
    t.G_ema.load_state_dict(s["G_ema"])
    t.cur_nimg, t.tick, t.stage, t.rollbacks = (
        s["cur_nimg"],
        s["tick"],
        s["stage"],
        s["rollbacks"],
    )
    t.phase_index = s.get("phase_index", -1)
    t.batch_idx = s.get("batch_idx", 0)
    t.train_seconds = float(s.get("train_seconds", 0.0))
    t.make_optimizers()
    if s["opt_G"] is not None:
        t.opt_G.load_state_dict(s["opt_G"])
        if t.opt_D is not None:
            t.opt_D.load_state_dict(s["opt_D"])
        t.apply_optim_config()
    t.augment.load_state_dict(s["augment"])
    t.ada.load_state_dict(s["ada"])
    t.sampler.load_state_dict(s["sampler"])
    try:
        t.latent_gen.set_state(s["latent_gen"].cpu())
    except RuntimeError:  # a checkpoint from another device type: its stream cannot continue here
        log.warning(
            "latent RNG state comes from another device type; continuing with a fresh stream"
        )
        t.latent_gen.manual_seed(t.cfg.seed + 1 + t.cur_nimg)
    torch.set_rng_state(s["torch_rng"].cpu())
    if s.get("cuda_rng") is not None and t.device.type == "cuda":
        torch.cuda.set_rng_state(s["cuda_rng"].cpu(), t.device)
    if t.info.enabled:
        # The checkpoint holds rank 0's augmentation RNG and ADA partial sums: give the
        # other ranks their own stream again, and count rank 0's partial sums only once.
        torch.manual_seed(t.cfg.seed * 1000 + 17 + t.info.rank + 7919 * t.cur_nimg)
        if t.info.rank != 0:
            t.ada.load_state_dict({**s["ada"], "sign_sum": 0.0, "count": 0})


def rollback(t: Trainer) -> None:
    """Go back to the latest checkpoint after non-finite losses, on a different random path."""
    t.rollbacks += 1
    if t.rollbacks > t.cfg.runtime.max_rollbacks:
        raise TrainingDiverged(
            f"{t.run_dir}: losses became NaN/Inf {t.rollbacks} times "
            f"near kimg {t.cur_nimg / 1000:.1f}; "
            "lower optim.lr or change loss.kind"
        )
    path = latest_checkpoint(t.run_dir)
    log.warning(
        "non-finite loss at kimg %.1f: rolling back to %s (rollback %d of at most %d)",
        t.cur_nimg / 1000,
        path.name,
        t.rollbacks,
        t.cfg.runtime.max_rollbacks,
    )
    rollbacks, spent = t.rollbacks, t.train_seconds
    load_trainer_state(t, load_checkpoint(path, t.device))
    t.rollbacks = rollbacks
    t.train_seconds = spent  # the diverged stretch took wall clock too: it counts
    # Take a different random path than the one that diverged.
    t.latent_gen.manual_seed(t.cfg.seed + 7919 * rollbacks)
    torch.manual_seed(t.cfg.seed * 1000 + 7919 * rollbacks + t.info.rank)
