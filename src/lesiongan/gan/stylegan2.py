"""StyleGAN2 generator and discriminator (Karras et al. 2020a), class-conditional as in
StyleGAN2-ADA (Karras et al. 2020b); the ``stylegan2`` generator family (``network.arch:
stylegan2``, :mod:`lesiongan.gan.families`), whose ``network:`` section is
:class:`StyleGAN2NetworkConfig`.

Not progressive: both networks work at ``cfg.resolution`` from the first step. They accept the
trainer's ``stage`` / ``alpha`` arguments and ignore them (the schedule gives one phase).

Generator (paper figure 7b, "skip" architecture, config E/F without style mixing):

- Mapping network (section 2 of StyleGAN; 8 FC layers in the paper, ``cfg.mapping_layers``,
  lr multiplier 0.01, leaky ReLU after every layer). Conditional input as in StyleGAN2-ADA's
  ``MappingNetwork``: ``concat(normalize(z), normalize(embed(onehot(y))))``, where ``normalize``
  scales to unit mean square and ``embed`` is an FC layer of ``cfg.embed_dim`` outputs.
- w is broadcast to every layer (``num_ws = 2 * number of resolutions``, the reference's count:
  each toRGB shares its w with the next block's first convolution).
- Synthesis: a learned 4x4 constant, then per resolution (up)sampled modulated 3x3 convolutions
  with demodulation, per-pixel noise scaled by a learned per-layer strength (initialised to 0),
  bias and leaky ReLU; a modulated 1x1 toRGB without demodulation at every resolution, summed
  with the upsampled RGB of the resolution below.
- Sampling (``eval()`` mode): noise from fixed per-layer buffers (the reference's
  ``noise_mode="const"``), so an image depends only on its z and class, and truncation
  ``w = lerp(w_avg[y], w, psi)`` with ``psi = cfg.truncation_psi`` towards the running mean of w
  of the class (global when unconditional), tracked while training with decay 0.995. Training
  (``train()`` mode) draws fresh noise and never truncates.

Discriminator (figure 7c, "residual"): fromRGB at full resolution; per resolution two 3x3
convolutions (the second downsampling) plus a downsampled 1x1 skip, summed and scaled by
sqrt(1/2); at 4x4 minibatch standard deviation (group ``cfg.mbstd_group``, one feature), a 3x3
convolution, an FC layer and the output layer. Conditioning is a projection, as in our PGGAN D
(Miyato & Koyama 2018): ``D(x, y) = w^T h + e_y^T h`` (StyleGAN2-ADA instead maps c to a
projection vector; same idea).

Transitional conditioning (Shahbazi et al. 2022): the label embedding in the mapping input and
the projection term in D are multiplied by the non-persistent buffer ``cond_blend`` (1 by
default; the trainer sets it from the schedule, see ``schedule.transition_blend``).
"""

from __future__ import annotations

import itertools
import math
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from lesiongan.gan.config import GanConfig, GanNetworkConfig
from lesiongan.gan.families import GeneratorFamily, register_family
from lesiongan.gan.layers import minibatch_stddev
from lesiongan.gan.sg2_layers import (
    Conv2d,
    FullyConnected,
    ModulatedConv2d,
    Resample2x,
    act,
    normalize_2nd_moment,
)

W_AVG_BETA = 0.995


class StyleGAN2NetworkConfig(GanNetworkConfig):
    """``network:`` of ``arch: stylegan2``: the mapping network and truncation besides the
    shared keys (``embed_dim`` sizes the label embedding fed to the mapping network)."""

    arch: Literal["stylegan2"] = Field("stylegan2", description="generator family: stylegan2")
    mapping_layers: int = Field(8, ge=1, description="FC layers of the mapping network (paper: 8)")
    mapping_lr_mult: float = Field(
        0.01, gt=0, description="learning-rate multiplier of the mapping network"
    )
    truncation_psi: float = Field(
        1.0,
        ge=0,
        description="sampling truncation towards the tracked mean w of the class (1 = none); a "
        "sampling setting, ignored while training and on resume checks",
    )
    SAMPLING_KEYS: ClassVar[frozenset[str]] = frozenset({"truncation_psi"})


def _resolutions(cfg: StyleGAN2NetworkConfig) -> list[int]:
    return [4 * 2**k for k in range(int(math.log2(cfg.resolution)) - 1)]


class MappingNetwork(nn.Module):
    """z (and class) -> w; tracks the mean w per class for truncation."""

    def __init__(self, cfg: StyleGAN2NetworkConfig, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes if cfg.conditional and num_classes > 1 else 0
        self.embed = FullyConnected(self.num_classes, cfg.embed_dim) if self.num_classes else None
        dims = [cfg.latent_dim + (cfg.embed_dim if self.embed else 0)]
        dims += [cfg.latent_dim] * cfg.mapping_layers
        self.fcs = nn.ModuleList(
            FullyConnected(a, b, activation=True, lr_mult=cfg.mapping_lr_mult)
            for a, b in itertools.pairwise(dims)
        )
        self.register_buffer("w_avg", torch.zeros(max(self.num_classes, 1), cfg.latent_dim))
        self.register_buffer("cond_blend", torch.ones(()), persistent=False)

    def _index(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
        if labels is None:
            raise ValueError("a conditional generator needs labels")
        return labels

    def forward(
        self, z: torch.Tensor, labels: torch.Tensor | None, truncation_psi: float = 1.0
    ) -> torch.Tensor:
        idx = self._index(z, labels)
        x = normalize_2nd_moment(z)
        if self.embed is not None:
            y = self.embed(F.one_hot(idx, self.num_classes).to(x.dtype))
            x = torch.cat([x, normalize_2nd_moment(y) * self.cond_blend.to(x.dtype)], dim=1)
        for fc in self.fcs:
            x = fc(x)
        if self.training:
            self._track_w_avg(x.detach(), idx)
        if truncation_psi != 1.0:
            x = torch.lerp(self.w_avg[idx].to(x.dtype), x, truncation_psi)
        return x

    @torch.no_grad()
    def _track_w_avg(self, w: torch.Tensor, idx: torch.Tensor) -> None:
        # Per-class batch means, moved into w_avg only for classes present (no host sync).
        onehot = F.one_hot(idx, self.w_avg.shape[0]).float()
        counts = onehot.sum(dim=0)
        means = onehot.t() @ w.float() / counts.clamp(min=1).unsqueeze(1)
        keep = torch.where(counts > 0, W_AVG_BETA, 1.0).unsqueeze(1)
        self.w_avg.copy_(torch.lerp(means, self.w_avg, keep))


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution + noise + bias + activation."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, res: int, up: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, w_dim, demodulate=True, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(res, res))
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        x = self.conv(x, w)
        if noise_mode == "random":
            n, _, h, wd = x.shape
            noise = torch.randn(n, 1, h, wd, device=x.device, dtype=x.dtype)
            x = x + noise * self.noise_strength.to(x.dtype)
        elif noise_mode == "const":
            x = x + (self.noise_const * self.noise_strength).to(x.dtype)
        return act(x + self.bias.to(x.dtype).reshape(1, -1, 1, 1))


class ToRGB(nn.Module):
    def __init__(self, in_ch: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.to(x.dtype).reshape(1, -1, 1, 1)


class StyleGAN2Generator(nn.Module):
    def __init__(self, cfg: StyleGAN2NetworkConfig, num_classes: int) -> None:
        super().__init__()
        self.cfg, self.num_classes = cfg, num_classes
        self.resolutions = _resolutions(cfg)
        w_dim = cfg.latent_dim
        ch = [cfg.channels(r) for r in self.resolutions]
        self.mapping = MappingNetwork(cfg, num_classes)
        self.const = nn.Parameter(torch.randn(ch[0], 4, 4))
        layers = [SynthesisLayer(ch[0], ch[0], w_dim, 4)]
        for i in range(1, len(ch)):
            r = self.resolutions[i]
            layers += [
                SynthesisLayer(ch[i - 1], ch[i], w_dim, r, up=True),
                SynthesisLayer(ch[i], ch[i], w_dim, r),
            ]
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.ModuleList(ToRGB(c, w_dim) for c in ch)
        self.up = Resample2x("up")
        self.num_ws = 2 * len(ch)
        # Running mean of path lengths (section 3.2); a buffer so that checkpoints carry it.
        self.register_buffer("pl_mean", torch.zeros(()))

    @property
    def max_stage(self) -> int:
        return len(self.resolutions) - 1

    def map(
        self, z: torch.Tensor, labels: torch.Tensor | None, truncation_psi: float | None = None
    ) -> torch.Tensor:
        """ws [N, num_ws, w_dim]; ``truncation_psi=None``: the config's when sampling, else 1."""
        if truncation_psi is None:
            truncation_psi = 1.0 if self.training else self.cfg.truncation_psi
        w = self.mapping(z, labels, truncation_psi)
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)

    def synthesize(self, ws: torch.Tensor, noise_mode: str | None = None) -> torch.Tensor:
        """Images [N, 3, R, R] from ws; ``noise_mode`` random / const / none (default: random
        while training, const when sampling)."""
        if noise_mode is None:
            noise_mode = "random" if self.training else "const"
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"unknown noise_mode {noise_mode!r}")
        x = self.const.to(ws.dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        x = self.layers[0](x, ws[:, 0], noise_mode)
        img = self.to_rgb[0](x, ws[:, 1])
        for i in range(1, len(self.to_rgb)):
            # block i: ws[2i-1], ws[2i] for its convolutions, ws[2i+1] for toRGB (the reference's
            # indexing: toRGB shares its w with the next block's first convolution)
            x = self.layers[2 * i - 1](x, ws[:, 2 * i - 1], noise_mode)
            x = self.layers[2 * i](x, ws[:, 2 * i], noise_mode)
            img = self.up(img).to(x.dtype) + self.to_rgb[i](x, ws[:, 2 * i + 1])
        return img

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None,
        stage: int | None = None,
        alpha: float | torch.Tensor | None = None,
        truncation_psi: float | None = None,
        noise_mode: str | None = None,
    ) -> torch.Tensor:
        """Images in about [-1, 1]; ``stage`` and ``alpha`` are accepted and ignored."""
        return self.synthesize(self.map(z, labels, truncation_psi), noise_mode)


class _DBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv0 = Conv2d(in_ch, in_ch, 3)
        self.conv1 = Conv2d(in_ch, out_ch, 3, down=True)
        self.skip = Conv2d(in_ch, out_ch, 1, bias=False, activation=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)


class StyleGAN2Discriminator(nn.Module):
    def __init__(self, cfg: StyleGAN2NetworkConfig, num_classes: int) -> None:
        super().__init__()
        self.cfg, self.num_classes = cfg, num_classes
        self.resolutions = _resolutions(cfg)
        ch = [cfg.channels(r) for r in self.resolutions]
        self.from_rgb = Conv2d(3, ch[-1], 1)
        # from the top resolution down to 4x4
        self.blocks = nn.ModuleList(_DBlock(ch[i], ch[i - 1]) for i in range(len(ch) - 1, 0, -1))
        self.conv = Conv2d(ch[0] + 1, ch[0], 3)
        self.fc = FullyConnected(ch[0] * 16, ch[0], activation=True)
        self.out = FullyConnected(ch[0], 1)
        conditional = cfg.conditional and num_classes > 1
        self.project = nn.Embedding(num_classes, ch[0]) if conditional else None
        if self.project is not None:
            nn.init.normal_(self.project.weight, std=1.0 / math.sqrt(ch[0]))
        self.register_buffer("cond_blend", torch.ones(()), persistent=False)

    @property
    def max_stage(self) -> int:
        return len(self.resolutions) - 1

    def forward(
        self,
        img: torch.Tensor,
        labels: torch.Tensor | None,
        stage: int | None = None,
        alpha: float | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Raw scores, shape [N]; ``stage`` and ``alpha`` are accepted and ignored."""
        x = self.from_rgb(img)
        for block in self.blocks:
            x = block(x)
        x = minibatch_stddev(x, self.cfg.mbstd_group)
        x = self.conv(x)
        h = self.fc(x.flatten(1))
        score = self.out(h).squeeze(1)
        if self.project is not None:
            if labels is None:
                raise ValueError("a conditional discriminator needs labels")
            proj = (self.project(labels).to(h.dtype) * h).sum(dim=1)
            score = score + self.cond_blend.to(h.dtype) * proj
        return score


class StyleGAN2(GeneratorFamily):
    """Full resolution from the first step: one schedule phase at ``network.resolution``."""

    name = "stylegan2"
    network_config = StyleGAN2NetworkConfig
    truncation = True
    path_length = True

    def build_networks(self, cfg: GanConfig, num_classes: int) -> tuple[nn.Module, nn.Module]:
        G = StyleGAN2Generator(cfg.network, num_classes)
        return G, StyleGAN2Discriminator(cfg.network, num_classes)


register_family(StyleGAN2())
