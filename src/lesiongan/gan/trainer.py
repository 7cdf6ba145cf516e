"""The GAN training loop, shared by both network families (``network.arch``).

One iteration = one D step then one G step on a minibatch of the current phase (n_critic = 1 as
in the paper), an EMA update of G, and an ADA update every few steps. Lazy regularization: the
D step includes R1 every ``loss.r1_interval`` iterations and the G step the path length penalty
every ``loss.pl_interval`` (StyleGAN2). Transitional conditioning sets the networks' class
weight from the images seen before each iteration. Every ``tick_kimg`` the
loop logs statistics, writes a sample grid from fixed latents, checks that the losses are
finite (rolling back to the last checkpoint if not), and every few ticks saves a checkpoint.
All randomness comes from checkpointed generators, so ``--resume`` equals an uninterrupted run
on CPU.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from lesiongan.errors import LesionganError
from lesiongan.gan.augment import AdaController, DiffAugment
from lesiongan.gan.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from lesiongan.gan.config import GanConfig
from lesiongan.gan.data import BatchSampler, TrainImages, make_real_batch
from lesiongan.gan.grid import save_grid
from lesiongan.gan.loss import GanLoss
from lesiongan.gan.networks import build_networks, set_cond_blend
from lesiongan.gan.schedule import (
    Phase,
    build_phases,
    phase_at,
    total_nimg,
    transition_blend,
)
from lesiongan.utils.device import resolve_device as _resolve_device
from lesiongan.utils.distributed import DistInfo, all_reduce_mean_grads, broadcast_params

log = logging.getLogger(__name__)
ProgressFn = Callable[[dict[str, Any]], None]


class TrainingDiverged(LesionganError):
    """Losses stayed non-finite after every allowed rollback."""


def resolve_device(spec: str, info: DistInfo) -> torch.device:
    return _resolve_device(spec, info.local_rank, what="runtime.device")


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t


class Trainer:
    def __init__(
        self,
        cfg: GanConfig,
        data: TrainImages,
        run_dir: Path,
        info: DistInfo,
        device: torch.device,
        progress: ProgressFn | None = None,
    ) -> None:
        self.cfg, self.run_dir, self.info, self.device, self.progress = (
            cfg,
            run_dir,
            info,
            device,
            progress,
        )
        self.classes = data.classes
        self.phases = build_phases(cfg.network, cfg.schedule)
        for ph in self.phases:
            if ph.batch_size % info.world_size:
                raise LesionganError(
                    f"batch size {ph.batch_size} at {ph.resolution} px does not divide "
                    f"over {info.world_size} processes"
                )
        rt = cfg.runtime
        self.bf16 = rt.precision == "bf16" or (rt.precision == "auto" and device.type == "cuda")
        self.channels_last = (
            rt.channels_last if rt.channels_last is not None else device.type == "cuda"
        )
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(cfg.seed)
        n_cls = len(self.classes)
        G, D = build_networks(cfg, n_cls)
        self.G, self.D = G.to(device), D.to(device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        if self.channels_last:
            for m in (self.G, self.D, self.G_ema):
                m.to(memory_format=torch.channels_last)
        broadcast_params([self.G, self.D, self.G_ema], info)
        self.augment = DiffAugment(cfg.augment.policy, cfg.augment.p).to(device)
        self.ada = AdaController(
            self.augment,
            cfg.augment.ada_target,
            cfg.augment.ada_kimg,
            cfg.augment.ada_interval,
            info,
        )
        G_run, D_run = (
            (torch.compile(self.G), torch.compile(self.D)) if rt.compile else (self.G, self.D)
        )
        self.loss = GanLoss(G_run, D_run, self.augment, cfg.loss, D_reg=self.D, G_reg=self.G)
        self.pl_active = cfg.loss.pl_weight > 0
        self.images = data.images.to(device)
        self.labels = data.labels.to(device)
        self.sampler = BatchSampler(len(data.labels), cfg.seed, cfg.data.mirror)
        # Latents are drawn on the training device (no host-to-device copy per step).
        self.latent_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)
        # Augmentation draws from the global RNG: decorrelate ranks.
        torch.manual_seed(cfg.seed * 1000 + 17 + info.rank)
        self.cur_nimg, self.tick, self.stage, self.phase_index, self.rollbacks = 0, 0, -1, -1, 0
        self.batch_idx = 0  # iterations done: the clock of lazy regularization
        self.train_seconds = 0.0  # wall clock spent in run(), summed over resumes
        self.out_of_time = False  # schedule.max_minutes reached
        self.cond_blend = 1.0  # the networks' cond_blend buffers hold this value
        self.opt_G: torch.optim.Optimizer | None = None
        self.opt_D: torch.optim.Optimizer | None = None
        grid_gen = torch.Generator().manual_seed(cfg.seed + 2)
        k = cfg.log.grid_per_class
        self.grid_z = torch.randn(n_cls * k, cfg.network.latent_dim, generator=grid_gen).to(device)
        self.grid_c = torch.arange(n_cls).repeat_interleave(k).to(device)
        self._reset_tick_stats()

    # -- optimizers and state -------------------------------------------------------------
    def _make_optimizers(self) -> None:
        o = self.cfg.optim
        kw = {"lr": o.lr, "betas": (o.beta1, o.beta2), "eps": o.eps}
        self.opt_G = torch.optim.Adam(self.G.parameters(), **kw)
        self.opt_D = torch.optim.Adam(self.D.parameters(), **kw)

    def _enter_phase(self, phase: Phase) -> None:
        # The reference code resets Adam whenever the level of detail changes: when a fade-in
        # starts and when it ends.
        if self.opt_G is None or self.cfg.optim.reset_on_grow:
            self._make_optimizers()
        self.stage, self.phase_index = phase.stage, phase.index

    def _apply_optim_config(self) -> None:
        """Use the config's lr/betas/eps (a resumed run may change them with --set)."""
        o = self.cfg.optim
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group.update(lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps)

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.cfg.model_dump(mode="json"),
            "classes": list(self.classes),
            "cur_nimg": self.cur_nimg,
            "tick": self.tick,
            "stage": self.stage,
            "phase_index": self.phase_index,
            "rollbacks": self.rollbacks,
            "batch_idx": self.batch_idx,
            "train_seconds": self.train_seconds,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict() if self.opt_G else None,
            "opt_D": self.opt_D.state_dict() if self.opt_D else None,
            "augment": self.augment.state_dict(),
            "ada": self.ada.state_dict(),
            "sampler": self.sampler.state_dict(),
            "latent_gen": self.latent_gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device)
            if self.device.type == "cuda"
            else None,
        }

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.G.load_state_dict(s["G"])
        self.D.load_state_dict(s["D"])
        self.G_ema.load_state_dict(s["G_ema"])
        self.cur_nimg, self.tick, self.stage, self.rollbacks = (
            s["cur_nimg"],
            s["tick"],
            s["stage"],
            s["rollbacks"],
        )
        self.phase_index = s.get("phase_index", -1)
        self.batch_idx = s.get("batch_idx", 0)
        self.train_seconds = float(s.get("train_seconds", 0.0))
        self._make_optimizers()
        if s["opt_G"] is not None:
            self.opt_G.load_state_dict(s["opt_G"])
            self.opt_D.load_state_dict(s["opt_D"])
            self._apply_optim_config()
        self.augment.load_state_dict(s["augment"])
        self.ada.load_state_dict(s["ada"])
        self.sampler.load_state_dict(s["sampler"])
        try:
            self.latent_gen.set_state(s["latent_gen"].cpu())
        except (
            RuntimeError
        ):  # a checkpoint from another device type: its stream cannot continue here
            log.warning(
                "latent RNG state comes from another device type; continuing with a fresh stream"
            )
            self.latent_gen.manual_seed(self.cfg.seed + 1 + self.cur_nimg)
        torch.set_rng_state(s["torch_rng"].cpu())
        if s.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(s["cuda_rng"].cpu(), self.device)
        if self.info.enabled:
            # The checkpoint holds rank 0's augmentation RNG and ADA partial sums: give the
            # other ranks their own stream again, and count rank 0's partial sums only once.
            torch.manual_seed(self.cfg.seed * 1000 + 17 + self.info.rank + 7919 * self.cur_nimg)
            if self.info.rank != 0:
                self.ada.load_state_dict({**s["ada"], "sign_sum": 0.0, "count": 0})

    def save(self) -> Path:
        path = checkpoint_path(self.run_dir, self.cur_nimg)
        if self.info.is_main:
            save_checkpoint(path, self.state_dict(), keep=self.cfg.log.keep_checkpoints)
        return path

    # -- one iteration ----------------------------------------------------------------------
    def _draw(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents and labels for a global batch (this rank's slice), labels as in the data."""
        dev, gen = self.device, self.latent_gen
        z = torch.randn(batch, self.cfg.network.latent_dim, generator=gen, device=dev)
        c = torch.randint(0, len(self.labels), (batch,), generator=gen, device=dev)
        sl = self._slice(batch)
        return z[sl], self.labels[c[sl]]

    def _slice(self, batch: int) -> slice:
        per = batch // self.info.world_size
        return slice(self.info.rank * per, (self.info.rank + 1) * per)

    def _set_cond_blend(self) -> None:
        span = self.cfg.conditioning.transition_kimg
        blend = 1.0 if span is None else transition_blend(self.cur_nimg / 1000, *span)
        if blend != self.cond_blend:
            set_cond_blend([self.G, self.D, self.G_ema], blend)
            self.cond_blend = blend

    def step(self) -> None:
        self._set_cond_blend()
        phase, alpha = phase_at(self.phases, self.cur_nimg)
        if phase.index != self.phase_index:
            self._enter_phase(phase)
        B = phase.batch_size
        idx, flips = self.sampler.next_indices(B)
        sl = self._slice(B)
        idx, flips = _to_device(idx[sl], self.device), _to_device(flips[sl], self.device)
        real = make_real_batch(self.images, idx, flips, phase.resolution, alpha)
        real_c = self.labels[idx]
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        # alpha as a tensor made on the device: no host sync, and compiled graphs do not
        # specialize on its value
        a = torch.full((), alpha, device=self.device)
        amp = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else nullcontext()
        z, c = self._draw(B)
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        with amp:
            d = self.loss.accumulate_gradients(self._d_phase(), real, real_c, z, c, phase.stage, a)
        all_reduce_mean_grads([p for p in self.D.parameters() if p.grad is not None], self.info)
        self.opt_D.step()
        real_scores = d.pop("real_scores")
        if self.cfg.loss.kind == "wgan-gp":
            # WGAN scores have no fixed zero (the drift term pulls D(real) towards 0), so the
            # ADA heuristic measures reals against the mean fake score instead of against 0.
            real_scores = real_scores - d["D_fake"]
        self.ada.accumulate(real_scores)
        z, c = self._draw(B)
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with amp:
            g = self.loss.accumulate_gradients("Gmain", real, real_c, z, c, phase.stage, a)
        if self.pl_active and self.batch_idx % self.cfg.loss.pl_interval == 0:
            z, c = self._draw(B)
            with amp:
                g.update(self.loss.accumulate_gradients("Greg", real, real_c, z, c, phase.stage, a))
        all_reduce_mean_grads([p for p in self.G.parameters() if p.grad is not None], self.info)
        self.opt_G.step()
        self._update_ema(B)
        rt = self.ada.step(B)
        self.cur_nimg += B
        self.batch_idx += 1
        self._accumulate({**d, **g}, rt)

    def _d_phase(self) -> str:
        lazy = self.cfg.loss.kind == "logistic-r1" and self.batch_idx % self.cfg.loss.r1_interval
        return "Dmain" if lazy else "Dboth"

    @torch.no_grad()
    def _update_ema(self, batch: int) -> None:
        # Half-life in images, ramped up early (StyleGAN2-ADA): with a fixed 0.999 per step a short
        # run's G_ema would still be mostly its random initialization.
        o = self.cfg.optim
        ema_nimg = o.ema_kimg * 1000
        if o.ema_rampup is not None:
            ema_nimg = min(ema_nimg, (self.cur_nimg + batch) * o.ema_rampup)
        beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
        ema, cur = list(self.G_ema.parameters()), list(self.G.parameters())
        torch._foreach_lerp_(ema, cur, 1.0 - beta)
        # buffers (StyleGAN2's mean w for truncation, fixed noise) are copied, as the reference does
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # -- ticks --------------------------------------------------------------------------------
    def _reset_tick_stats(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._steps = 0
        self._rt: float | None = None
        self._tick_start_nimg = self.cur_nimg
        self._tick_start_time = time.perf_counter()

    def _accumulate(self, stats: dict[str, torch.Tensor], rt: float | None) -> None:
        for k, v in stats.items():
            self._sums[k] = self._sums.get(k, 0) + v.float()
        self._steps += 1
        if rt is not None:
            self._rt = rt

    def _tick_stats(self) -> dict[str, Any]:
        phase, alpha = phase_at(self.phases, max(self.cur_nimg - 1, 0))
        dt = time.perf_counter() - self._tick_start_time
        stats = {
            k: float(v) / max(self._steps, 1) for k, v in self._sums.items()
        }  # one sync per tick
        return {
            "tick": self.tick,
            "kimg": self.cur_nimg / 1000,
            "total_kimg": total_nimg(self.phases) / 1000,
            "resolution": phase.resolution,
            "phase": phase.kind,
            "alpha": alpha,
            "batch": phase.batch_size,
            **stats,
            "augment_p": float(self.augment.p),
            "r_t": self._rt,
            "img_per_s": (self.cur_nimg - self._tick_start_nimg) / dt if dt > 0 else 0.0,
            "sec_per_tick": dt,
            "train_sec": self.train_seconds,
            "rollbacks": self.rollbacks,
        }

    def _finite(self) -> bool:
        if not self._sums:
            return True
        flag = torch.stack([v.float() for v in self._sums.values()]).isfinite().all().float()
        if self.info.enabled:
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
        return bool(flag)

    def _rollback(self) -> None:
        self.rollbacks += 1
        if self.rollbacks > self.cfg.runtime.max_rollbacks:
            raise TrainingDiverged(
                f"{self.run_dir}: losses became NaN/Inf {self.rollbacks} times "
                f"near kimg {self.cur_nimg / 1000:.1f}; "
                "lower optim.lr or change loss.kind"
            )
        path = latest_checkpoint(self.run_dir)
        log.warning(
            "non-finite loss at kimg %.1f: rolling back to %s (rollback %d of at most %d)",
            self.cur_nimg / 1000,
            path.name,
            self.rollbacks,
            self.cfg.runtime.max_rollbacks,
        )
        rollbacks, spent = self.rollbacks, self.train_seconds
        self.load_state_dict(load_checkpoint(path, self.device))
        self.rollbacks = rollbacks
        self.train_seconds = spent  # the diverged stretch took wall clock too: it counts
        # Take a different random path than the one that diverged.
        self.latent_gen.manual_seed(self.cfg.seed + 7919 * rollbacks)
        torch.manual_seed(self.cfg.seed * 1000 + 7919 * rollbacks + self.info.rank)

    def _write_tick(self, stats: dict[str, Any], writer: Any) -> None:
        if not self.info.is_main:
            return
        with open(self.run_dir / "stats.jsonl", "a") as f:
            f.write(json.dumps(stats) + "\n")
        phase, alpha = phase_at(self.phases, max(self.cur_nimg - 1, 0))
        with torch.no_grad():
            fakes = self.G_ema(self.grid_z, self.grid_c, phase.stage, alpha)
        grid = save_grid(
            fakes, len(self.classes), self.run_dir / "grids" / f"fakes-{self.cur_nimg:09d}.png"
        )
        if writer is not None:
            for k, v in stats.items():
                if isinstance(v, (int, float)) and v is not None:
                    writer.add_scalar(f"train/{k}", v, self.cur_nimg)
            writer.add_image("fakes", grid, self.cur_nimg, dataformats="HWC")
            writer.flush()

    def run(self, stop_at_nimg: int | None = None, writer: Any = None) -> None:
        """Train until the schedule ends (or ``stop_at_nimg``, for tests of interruption)."""
        end = (
            total_nimg(self.phases)
            if stop_at_nimg is None
            else min(stop_at_nimg, total_nimg(self.phases))
        )
        tick_nimg = round(self.cfg.log.tick_kimg * 1000)
        if self.cur_nimg == 0 and not self._has_checkpoint():
            self.save()  # the rollback target before the first snapshot
        self._reset_tick_stats()
        budget = self.cfg.schedule.max_minutes
        self.out_of_time = budget is not None and self.train_seconds >= budget * 60
        clock = time.perf_counter()
        while self.cur_nimg < end and not self.out_of_time:
            self.step()
            now = time.perf_counter()
            self.train_seconds += now - clock
            clock = now
            if budget is not None and (not self.info.enabled or self.batch_idx % 16 == 0):
                # with several processes, rank 0 decides every 16 steps (one sync, not one a step)
                self.out_of_time = self._agree(self.train_seconds >= budget * 60)
            done = self.cur_nimg >= end or self.out_of_time
            if self.progress:
                phase, alpha = phase_at(self.phases, self.cur_nimg - 1)
                self.progress(
                    {
                        "kimg": self.cur_nimg / 1000,
                        "total_kimg": total_nimg(self.phases) / 1000,
                        "resolution": phase.resolution,
                        "phase": phase.kind,
                        "alpha": alpha,
                    }
                )
            if self.cur_nimg - self._tick_start_nimg < tick_nimg and not done:
                continue
            if not self._finite():
                self._rollback()
                self._reset_tick_stats()
                continue
            stats = self._tick_stats()
            self.tick += 1
            self._write_tick(stats, writer)
            if self.progress:
                self.progress({"tick_stats": stats})
            if self.tick % self.cfg.log.snapshot_ticks == 0 or done:
                self.save()
            self._reset_tick_stats()

    def _agree(self, flag: bool) -> bool:
        """Rank 0's decision for every rank (one tiny broadcast per step, only with a budget)."""
        if not self.info.enabled:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        torch.distributed.broadcast(t, 0)
        return bool(t.item())

    def _has_checkpoint(self) -> bool:
        try:
            latest_checkpoint(self.run_dir)
        except LesionganError:
            return False
        return True
