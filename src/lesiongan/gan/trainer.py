"""The training loop, shared by every generator family (``network.arch``,
:mod:`lesiongan.gan.families`).

One iteration = the optimizer steps the family's loss asks for (:meth:`GanLoss.steps`: for the
GANs one D step then one G step on a minibatch of the current phase, n_critic = 1 as in the
paper, with lazy regularization decided by the loss), each over its loss phases with fresh
latents, then an EMA update of G and an ADA update every few steps. Transitional conditioning
sets the networks' class weight from the images seen before each iteration. Every ``tick_kimg``
the loop logs statistics and a sample grid (:mod:`lesiongan.gan.ticks`), checks that the losses
are finite (rolling back to the last checkpoint if not), and every few ticks saves a
checkpoint. All randomness comes from checkpointed generators, so ``--resume`` equals an
uninterrupted run on CPU.
"""

from __future__ import annotations

import copy
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
    save_checkpoint,
)
from lesiongan.gan.config import GanConfig
from lesiongan.gan.data import BatchSampler, TrainImages, make_real_batch
from lesiongan.gan.families import get_family, set_cond_blend
from lesiongan.gan.schedule import (
    Phase,
    build_phases,
    phase_at,
    total_nimg,
    transition_blend,
)
from lesiongan.gan.ticks import TickStats, write_tick
from lesiongan.gan.train_state import (  # noqa: F401  (TrainingDiverged: the trainer's error)
    TrainingDiverged,
    load_trainer_state,
    rollback,
    trainer_state,
)
from lesiongan.utils.device import resolve_device as _resolve_device
from lesiongan.utils.distributed import DistInfo, all_reduce_mean_grads, broadcast_params

log = logging.getLogger(__name__)
ProgressFn = Callable[[dict[str, Any]], None]


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
        self.family = get_family(cfg.network.arch)
        G, D = self.family.build_networks(cfg, n_cls)
        self.G, self.D = G.to(device), None if D is None else D.to(device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        nets = [m for m in (self.G, self.D, self.G_ema) if m is not None]
        if self.channels_last:
            for m in nets:
                m.to(memory_format=torch.channels_last)
        broadcast_params(nets, info)
        self.augment = DiffAugment(cfg.augment.policy, cfg.augment.p).to(device)
        self.ada = AdaController(
            self.augment,
            cfg.augment.ada_target,
            cfg.augment.ada_kimg,
            cfg.augment.ada_interval,
            info,
        )
        G_run, D_run = self.G, self.D
        if rt.compile:
            G_run, D_run = torch.compile(self.G), None if self.D is None else torch.compile(self.D)
        self.loss = self.family.build_loss(
            G_run, D_run, self.augment, cfg, G_reg=self.G, D_reg=self.D
        )
        self.nets = {k: v for k, v in (("G", self.G), ("D", self.D)) if v is not None}
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
        self.ticks = TickStats(self.cur_nimg)

    # -- optimizers and state -------------------------------------------------------------
    def make_optimizers(self) -> None:
        o = self.cfg.optim
        kw = {"lr": o.lr, "betas": (o.beta1, o.beta2), "eps": o.eps}
        self.opt_G = torch.optim.Adam(self.G.parameters(), **kw)
        self.opt_D = None if self.D is None else torch.optim.Adam(self.D.parameters(), **kw)

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {k: v for k, v in (("G", self.opt_G), ("D", self.opt_D)) if v is not None}

    def _enter_phase(self, phase: Phase) -> None:
        # The reference code resets Adam whenever the level of detail changes: when a fade-in
        # starts and when it ends.
        if self.opt_G is None or self.cfg.optim.reset_on_grow:
            self.make_optimizers()
        self.stage, self.phase_index = phase.stage, phase.index

    def apply_optim_config(self) -> None:
        """Use the config's lr/betas/eps (a resumed run may change them with --set)."""
        o = self.cfg.optim
        for opt in self._optimizers().values():
            for group in opt.param_groups:
                group.update(lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps)

    def state_dict(self) -> dict[str, Any]:
        return trainer_state(self)

    def load_state_dict(self, s: dict[str, Any]) -> None:
        load_trainer_state(self, s)

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
        stats: dict[str, torch.Tensor] = {}
        for net, loss_phases in self.loss.steps(self.batch_idx):
            stats.update(self._optimizer_step(net, loss_phases, real, real_c, phase.stage, a, B))
        self._update_ema(B)
        rt = self.ada.step(B)
        self.cur_nimg += B
        self.batch_idx += 1
        self.ticks.add(stats, rt)

    def _optimizer_step(
        self,
        net: str,
        loss_phases: tuple[str, ...],
        real: torch.Tensor,
        real_c: torch.Tensor,
        stage: int,
        alpha: torch.Tensor,
        batch: int,
    ) -> dict[str, torch.Tensor]:
        """One step of network ``net`` ("G" or "D") on the gradients of its loss phases."""
        for name, module in self.nets.items():
            module.requires_grad_(name == net)
        opt = self._optimizers()[net]
        opt.zero_grad(set_to_none=True)
        amp = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else nullcontext()
        stats: dict[str, torch.Tensor] = {}
        for loss_phase in loss_phases:
            z, c = self._draw(batch)  # fresh latents for every phase
            with amp:
                out = self.loss.accumulate_gradients(loss_phase, real, real_c, z, c, stage, alpha)
            ada_scores = out.pop("ada_scores", None)
            if ada_scores is not None:
                self.ada.accumulate(ada_scores)
            stats.update(out)
        params = [p for p in self.nets[net].parameters() if p.grad is not None]
        all_reduce_mean_grads(params, self.info)
        opt.step()
        return stats

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
    def _tick_stats(self) -> dict[str, Any]:
        phase, alpha = phase_at(self.phases, max(self.cur_nimg - 1, 0))
        dt = time.perf_counter() - self.ticks.start_time
        return {
            "tick": self.tick,
            "kimg": self.cur_nimg / 1000,
            "total_kimg": total_nimg(self.phases) / 1000,
            "resolution": phase.resolution,
            "phase": phase.kind,
            "alpha": alpha,
            "batch": phase.batch_size,
            **self.ticks.means(),
            "augment_p": float(self.augment.p),
            "r_t": self.ticks.rt,
            "img_per_s": (self.cur_nimg - self.ticks.start_nimg) / dt if dt > 0 else 0.0,
            "sec_per_tick": dt,
            "train_sec": self.train_seconds,
            "rollbacks": self.rollbacks,
        }

    def _write_tick(self, stats: dict[str, Any], writer: Any) -> None:
        if not self.info.is_main:
            return
        phase, alpha = phase_at(self.phases, max(self.cur_nimg - 1, 0))
        with torch.no_grad():
            fakes = self.G_ema(self.grid_z, self.grid_c, phase.stage, alpha)
        write_tick(self.run_dir, stats, fakes, len(self.classes), self.cur_nimg, writer)

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
        self.ticks = TickStats(self.cur_nimg)
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
            if self.cur_nimg - self.ticks.start_nimg < tick_nimg and not done:
                continue
            if not self.ticks.finite(self.info):
                rollback(self)
                self.ticks = TickStats(self.cur_nimg)
                continue
            stats = self._tick_stats()
            self.tick += 1
            self._write_tick(stats, writer)
            if self.progress:
                self.progress({"tick_stats": stats})
            if self.tick % self.cfg.log.snapshot_ticks == 0 or done:
                self.save()
            self.ticks = TickStats(self.cur_nimg)

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
