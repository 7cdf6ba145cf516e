"""Building blocks of the progressive GAN (Karras et al. 2018, section 4).

- Equalized learning rate: weights are drawn from N(0, 1) and scaled at run time by He's
  constant ``gain / sqrt(fan_in)``, so Adam's per-parameter step is the same for every layer.
- Pixelwise feature normalization in the generator (section 4.2).
- Minibatch standard deviation in the discriminator (section 3), group size 4.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class EqualizedConv2d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.scale = gain / math.sqrt(in_ch * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.scale
        return F.conv2d(x, w, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalize each pixel's feature vector to unit length (over channels, dim 1)."""
    return x * torch.rsqrt(x.float().square().mean(dim=1, keepdim=True) + eps).to(x.dtype)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append one feature map: the mean over features of the stddev across a group of samples.

    Groups are of ``group_size`` (or the whole batch if it does not divide), as in the paper's
    reference code, so the discriminator sees a statistic of sample diversity.
    """
    n, c, h, w = x.shape
    g = min(group_size, n)
    if n % g:
        g = n
    y = x.float().reshape(g, -1, c, h, w)
    y = y - y.mean(dim=0)
    y = (y.square().mean(dim=0) + 1e-8).sqrt()
    y = y.mean(dim=(1, 2, 3))  # [n/g]
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w).to(x.dtype)
    return torch.cat([x, y], dim=1)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour 2x upsampling (the paper's choice)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling."""
    return F.avg_pool2d(x, kernel_size=2)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)
