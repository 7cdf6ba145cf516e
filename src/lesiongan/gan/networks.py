"""Generator and discriminator that grow from 4x4 to the target resolution (Karras et al. 2018).

Both networks are built at full size; ``stage`` selects how many resolution blocks are active
(stage 0 = 4x4, stage k = 4 * 2**k px) and ``alpha`` in [0, 1] fades the newest block in:

- G: ``lerp(upsample(toRGB_{k-1}(h_{k-1})), toRGB_k(h_k), alpha)``
- D: ``lerp(fromRGB_{k-1}(downsample(img)), block_k(fromRGB_k(img)), alpha)``

so at ``alpha = 0`` the output is exactly the previous resolution's, upsampled. Building the
whole network once (instead of adding modules as it grows) keeps checkpoints, optimizers and
``torch.compile`` simple; inactive blocks get no gradient.

Conditioning: G concatenates a learned label embedding to z (as the paper's conditional
variant concatenates a one-hot label); D is a projection discriminator (Miyato & Koyama 2018):
``D(x, y) = w^T h(x) + e_y^T h(x)``. Projection rather than an auxiliary classifier because
AC-GAN's classification loss rewards easy-to-classify samples and is known to collapse
intra-class diversity, which is what synthetic minority-class data must not lose. For
transitional conditioning (Shahbazi et al. 2022) the embedding and the projection term are
multiplied by the non-persistent buffer ``cond_blend`` (1 unless the trainer sets it).

The ``pggan`` family of :mod:`lesiongan.gan.families` (``network.arch: pggan``, the default):
its ``network:`` section is :class:`PgganNetworkConfig`, its schedule grows from
``schedule.start_resolution`` to ``network.resolution``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from lesiongan.gan.config import GanConfig, GanNetworkConfig, NetworkConfig, ScheduleConfig
from lesiongan.gan.families import GeneratorFamily, register_family
from lesiongan.gan.layers import (
    EqualizedConv2d,
    EqualizedLinear,
    downsample2x,
    lrelu,
    minibatch_stddev,
    pixel_norm,
    upsample2x,
)


class PgganNetworkConfig(GanNetworkConfig):
    """``network:`` of ``arch: pggan``: G concatenates the label embedding to z."""

    arch: Literal["pggan"] = Field("pggan", description="generator family: pggan")


def resolutions(cfg: NetworkConfig) -> list[int]:
    """[4, 8, ..., cfg.resolution]: the resolution of each stage."""
    return [4 * 2**k for k in range(int(math.log2(cfg.resolution)) - 1)]


class _GBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv0 = EqualizedConv2d(in_ch, out_ch, 3)
        self.conv1 = EqualizedConv2d(out_ch, out_ch, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = upsample2x(x)
        x = pixel_norm(lrelu(self.conv0(x)))
        return pixel_norm(lrelu(self.conv1(x)))


class Generator(nn.Module):
    def __init__(self, cfg: PgganNetworkConfig, num_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_classes = num_classes
        self.resolutions = resolutions(cfg)
        ch = [cfg.channels(r) for r in self.resolutions]
        embed = cfg.embed_dim if cfg.conditional and num_classes > 1 else 0
        self.embed = nn.Embedding(num_classes, embed) if embed else None
        # Dense 4x4 input layer: the paper uses gain sqrt(2)/4 here.
        self.input = EqualizedLinear(cfg.latent_dim + embed, ch[0] * 16, gain=math.sqrt(2) / 4)
        self.conv4 = EqualizedConv2d(ch[0], ch[0], 3)
        self.blocks = nn.ModuleList(_GBlock(ch[i - 1], ch[i]) for i in range(1, len(ch)))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(c, 3, 1, gain=1.0) for c in ch)
        self.register_buffer("cond_blend", torch.ones(()), persistent=False)

    @property
    def max_stage(self) -> int:
        return len(self.resolutions) - 1

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None,
        stage: int,
        alpha: float | torch.Tensor = 1.0,
    ) -> torch.Tensor:
        x = z
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional generator needs labels")
            y = self.embed(labels).to(z.dtype) * self.cond_blend.to(z.dtype)
            x = torch.cat([z, y], dim=1)
        x = pixel_norm(x)
        # reshape first: pixel norm normalizes each 4x4 pixel's features (the reference code)
        x = pixel_norm(lrelu(self.input(x).reshape(z.shape[0], -1, 4, 4)))
        x = pixel_norm(lrelu(self.conv4(x)))
        prev = x
        for block in self.blocks[:stage]:
            prev = x
            x = block(x)
        img = self.to_rgb[stage](x)
        if stage == 0:
            return img
        # Always blend (even at alpha = 1): no data-dependent branch, so compiled graphs stay valid.
        # note: under autocast, interpolate runs in float32 while convs give bf16: align dtypes
        low = upsample2x(self.to_rgb[stage - 1](prev)).to(img.dtype)
        return torch.lerp(low, img, _as_tensor(alpha, img))


class _DBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv0 = EqualizedConv2d(in_ch, in_ch, 3)
        self.conv1 = EqualizedConv2d(in_ch, out_ch, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = lrelu(self.conv0(x))
        x = lrelu(self.conv1(x))
        return downsample2x(x)


class Discriminator(nn.Module):
    def __init__(self, cfg: PgganNetworkConfig, num_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_classes = num_classes
        self.resolutions = resolutions(cfg)
        ch = [cfg.channels(r) for r in self.resolutions]
        self.from_rgb = nn.ModuleList(EqualizedConv2d(3, c, 1) for c in ch)
        # blocks[i] takes resolution resolutions[i + 1] down to resolutions[i]
        self.blocks = nn.ModuleList(_DBlock(ch[i + 1], ch[i]) for i in range(len(ch) - 1))
        self.conv4 = EqualizedConv2d(ch[0] + 1, ch[0], 3)
        self.dense = EqualizedLinear(ch[0] * 16, ch[0])
        self.out = EqualizedLinear(ch[0], 1, gain=1.0)
        conditional = cfg.conditional and num_classes > 1
        self.project = nn.Embedding(num_classes, ch[0]) if conditional else None
        if self.project is not None:
            nn.init.normal_(self.project.weight, std=1.0 / math.sqrt(ch[0]))
        self.register_buffer("cond_blend", torch.ones(()), persistent=False)

    def forward(
        self,
        img: torch.Tensor,
        labels: torch.Tensor | None,
        stage: int,
        alpha: float | torch.Tensor = 1.0,
    ) -> torch.Tensor:
        """Raw scores, shape [N]."""
        x = lrelu(self.from_rgb[stage](img))
        if stage > 0:
            x = self.blocks[stage - 1](x)
            low = lrelu(self.from_rgb[stage - 1](downsample2x(img))).to(x.dtype)
            x = torch.lerp(low, x, _as_tensor(alpha, x))
            for block in reversed(self.blocks[: stage - 1]):
                x = block(x)
        x = minibatch_stddev(x, self.cfg.mbstd_group)
        x = lrelu(self.conv4(x))
        h = lrelu(self.dense(x.flatten(1)))
        score = self.out(h).squeeze(1)
        if self.project is not None:
            if labels is None:
                raise ValueError("a conditional discriminator needs labels")
            proj = (self.project(labels).to(h.dtype) * h).sum(dim=1)
            score = score + self.cond_blend.to(h.dtype) * proj
        return score


class Pggan(GeneratorFamily):
    """Progressive growing (Karras et al. 2018): one stage per resolution, faded in."""

    name = "pggan"
    network_config = PgganNetworkConfig

    def build_networks(self, cfg: GanConfig, num_classes: int) -> tuple[nn.Module, nn.Module]:
        return Generator(cfg.network, num_classes), Discriminator(cfg.network, num_classes)

    def phase_resolutions(self, net: NetworkConfig, sched: ScheduleConfig) -> list[int]:
        return [r for r in resolutions(net) if r >= sched.start_resolution]


register_family(Pggan())


def _as_tensor(alpha: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if isinstance(alpha, torch.Tensor):
        return alpha.to(device=like.device, dtype=like.dtype)
    # torch.full, not torch.tensor: no host-to-device copy, so no sync on CUDA
    return torch.full((), alpha, device=like.device, dtype=like.dtype)
