"""Differentiable augmentation for the discriminator, with adaptive strength.

Ops after DiffAugment (Zhao et al., NeurIPS 2020): ``color`` (brightness, saturation,
contrast), ``translation`` (up to 1/8 of the side, zero padded) and ``cutout`` (a square of half
the side). They are applied to real *and* generated images before D, and are differentiable,
so G is trained through them and learns the un-augmented distribution: generated images do not
inherit the augmentations (DiffAugment shows these ops do not leak even at p = 1).

Strength: each op is applied to each sample with probability ``p`` (a buffer, so it is saved
with the module). :class:`AdaController` adapts ``p`` as in StyleGAN2-ADA (Karras et al. 2020):
the overfitting heuristic ``r_t = E[sign(D(real))]`` is compared with a target (0.6) every few
steps and ``p`` moves so that it could go from 0 to 1 in ``ada_kimg`` thousand images. The
heuristic assumes logits with a meaningful zero (logistic loss); for WGAN-GP the trainer passes
``D(real) - mean D(fake)``, so r_t is the share of reals scored above the average fake.
"""

from __future__ import annotations

import torch
from torch import nn

from lesiongan.utils.distributed import DistInfo

OPS = ("color", "translation", "cutout")


class DiffAugment(nn.Module):
    def __init__(self, policy: str = "color,translation,cutout", p: float = 0.0) -> None:
        super().__init__()
        self.ops = tuple(op.strip() for op in policy.split(",") if op.strip())
        unknown = [op for op in self.ops if op not in OPS]
        if unknown:
            raise ValueError(f"unknown augmentation op(s) {unknown}; known: {', '.join(OPS)}")
        self.register_buffer("p", torch.tensor(float(p)))
        self.p_host = float(p)  # host copy: reading the buffer on every call would sync CUDA

    def set_p(self, value: float) -> None:
        self.p.fill_(min(max(float(value), 0.0), 1.0))
        # read back the float32 value, so a resumed run (which restores the buffer) matches
        self.p_host = float(self.p.cpu())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # type: ignore[override]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.p_host = float(self.p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.ops or self.p_host <= 0.0:
            return x
        for op in self.ops:
            apply = (torch.rand(x.shape[0], device=x.device) < self.p).to(x.dtype)
            x = getattr(self, f"_{op}")(x, apply)
        return x

    @staticmethod
    def _color(x: torch.Tensor, apply: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        a = apply.view(n, 1, 1, 1)
        x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5) * a
        mean = x.mean(dim=1, keepdim=True)
        sat = 1 + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2 - 1) * a
        x = (x - mean) * sat + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        con = 1 + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5) * a
        return (x - mean) * con + mean

    @staticmethod
    def _translation(x: torch.Tensor, apply: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
        n, _, h, w = x.shape
        sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
        dev = x.device
        ty = torch.randint(-sh, sh + 1, (n, 1, 1), device=dev) * apply.view(n, 1, 1).long()
        tx = torch.randint(-sw, sw + 1, (n, 1, 1), device=dev) * apply.view(n, 1, 1).long()
        gb, gy, gx = torch.meshgrid(
            torch.arange(n, device=dev),
            torch.arange(h, device=dev),
            torch.arange(w, device=dev),
            indexing="ij",
        )
        gy = torch.clamp(gy + ty + 1, 0, h + 1)
        gx = torch.clamp(gx + tx + 1, 0, w + 1)
        padded = nn.functional.pad(x, [1, 1, 1, 1])
        return padded.permute(0, 2, 3, 1)[gb, gy, gx].permute(0, 3, 1, 2)

    @staticmethod
    def _cutout(x: torch.Tensor, apply: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
        n, _, h, w = x.shape
        ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
        dev = x.device
        oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=dev)
        ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=dev)
        gb, gy, gx = torch.meshgrid(
            torch.arange(n, device=dev),
            torch.arange(ch, device=dev),
            torch.arange(cw, device=dev),
            indexing="ij",
        )
        gy = torch.clamp(gy + oy - ch // 2, 0, h - 1)
        gx = torch.clamp(gx + ox - cw // 2, 0, w - 1)
        mask = torch.ones(n, h, w, device=dev, dtype=x.dtype)
        mask[gb, gy, gx] = 0
        keep = 1 - apply.view(n, 1, 1)
        mask = torch.maximum(mask, keep)
        return x * mask.unsqueeze(1)


class AdaController:
    """Adjusts ``augment.p`` from the sign of D's outputs on reals (StyleGAN2-ADA)."""

    def __init__(
        self,
        augment: DiffAugment,
        target: float | None,
        ada_kimg: float,
        interval: int,
        info: DistInfo | None = None,
    ) -> None:
        self.augment = augment
        self.info = info or DistInfo()
        self.target = target
        self.ada_kimg = ada_kimg
        self.interval = interval
        self._sign_sum: torch.Tensor | float = (
            0.0  # a device tensor between updates: no sync per step
        )
        self._count = 0
        self._steps = 0

    def accumulate(self, real_scores: torch.Tensor) -> None:
        if self.target is None:
            return
        self._sign_sum = self._sign_sum + torch.sign(real_scores.detach().float()).sum()
        self._count += real_scores.shape[0]

    def step(self, batch_size: int) -> float | None:
        """Call once per D step; every ``interval`` steps updates p. Returns r_t when updated."""
        if self.target is None:
            return None
        self._steps += 1
        if self._steps % self.interval or self._count == 0:
            return None
        totals = torch.stack(
            [
                torch.as_tensor(self._sign_sum, dtype=torch.float32).to(self.augment.p.device),
                torch.tensor(float(self._count), device=self.augment.p.device),
            ]
        )
        if self.info.enabled:  # every rank must move p the same way
            torch.distributed.all_reduce(totals)
        rt = float(totals[0] / totals[1])  # note: a device sync, once per interval
        sign = (rt > self.target) - (rt < self.target)
        adjust = sign * (batch_size * self.interval) / (self.ada_kimg * 1000)
        self.augment.set_p(self.augment.p_host + adjust)
        self._sign_sum, self._count = 0.0, 0
        return rt

    def state_dict(self) -> dict:
        return {"sign_sum": float(self._sign_sum), "count": self._count, "steps": self._steps}

    def load_state_dict(self, state: dict) -> None:
        self._sign_sum, self._count, self._steps = state["sign_sum"], state["count"], state["steps"]
