"""Building blocks of StyleGAN2 (Karras et al. 2020a, "Analyzing and Improving the Image Quality
of StyleGAN"), written from the paper; constants checked against NVlabs/stylegan2-ada-pytorch.

- Equalized learning rate as in PGGAN, but with the activation gain outside the weights: weights
  are N(0, 1) (divided by ``lr_mult``), scaled at run time by ``lr_mult / sqrt(fan_in)``, and
  leaky ReLU (slope 0.2) is followed by a gain of sqrt(2) (the reference's ``bias_act``).
- :class:`ModulatedConv2d`: section 2.2, equations 1-3. The style ``s = A(w)`` (affine layer, bias
  initialised to 1) scales the input channels, ``w'_ijk = s_i * w_ijk``, and demodulation divides
  each output channel by ``sigma_j = sqrt(sum_ik w'_ijk^2 + 1e-8)``, so unit-variance inputs give
  unit-variance outputs (statistically, for independent inputs). It is computed as
  ``conv(x * s, w) * (1 / sigma)``: the reference's non-fused path, which it uses for training;
  the same numbers as the grouped convolution, but one ordinary convolution for the whole batch.
- Resampling with the [1, 3, 3, 1] FIR filter (appendix B: bilinear filtering in all up- and
  downsampling layers): 2x upsampling is a depthwise transposed convolution with that filter
  (interior values equal bilinear interpolation; borders are zero padded like the reference),
  2x downsampling a depthwise strided convolution with it. Plain convolutions, so double
  backward (R1, path length) works everywhere.

Differences from the reference, on purpose: the upsampling 3x3 convolution upsamples with the
filter first and then convolves (the reference fuses a transposed 3x3 convolution with the
filter); there is no fp16 clamping (we train in fp32 or bf16).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)
DEMOD_EPS = 1e-8


def act(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (0.2) with gain sqrt(2), which keeps the signal's second moment."""
    return F.leaky_relu(x, 0.2) * SQRT2


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row to unit mean square (StyleGAN's normalization of z and of the embedding)."""
    return x * torch.rsqrt(x.float().square().mean(dim=1, keepdim=True) + eps).to(x.dtype)


def _fir_2d(gain: float) -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = torch.outer(f, f)
    return k / k.sum() * gain


class Resample2x(nn.Module):
    """2x up- or downsampling with the [1, 3, 3, 1] filter, or (``mode="blur"``) filtering only,
    with ``pad`` pixels of zero padding, for a strided convolution that follows."""

    def __init__(self, mode: str, pad: int = 2) -> None:
        super().__init__()
        if mode not in ("up", "down", "blur"):
            raise ValueError(f"unknown resampling mode {mode!r}")
        self.mode, self.pad = mode, pad
        # upsampling inserts zeros between pixels: a gain of 4 keeps the mean
        self.register_buffer("kernel", _fir_2d(4.0 if mode == "up" else 1.0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        k = self.kernel.to(x.dtype).expand(c, 1, 4, 4)
        if self.mode == "up":
            return F.conv_transpose2d(x, k, stride=2, padding=1, groups=c)
        if self.mode == "down":
            return F.conv2d(x, k, stride=2, padding=1, groups=c)
        return F.conv2d(x, k, padding=self.pad, groups=c)


class FullyConnected(nn.Module):
    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: bool = False,
        lr_mult: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mult)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_mult))
        self.weight_gain = lr_mult / math.sqrt(in_features)
        self.bias_gain = lr_mult
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return act(x) if self.activation else x


class Conv2d(nn.Module):
    """Equalized convolution (D), optionally followed by the activation and/or 2x downsampling.

    ``down=True``: 3x3 kernels filter first (padding 2) then convolve with stride 2, as the
    reference does; 1x1 kernels (the residual skip) downsample with the filter, then convolve.
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, bias: bool = True, activation: bool = True,
        down: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.activation, self.kernel, self.down = activation, kernel, down
        self.resample = (
            Resample2x("down" if kernel == 1 else "blur", pad=(kernel + 1) // 2) if down else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        stride, padding = 1, self.kernel // 2
        if self.resample is not None:
            x = self.resample(x)
            if self.kernel > 1:
                stride, padding = 2, 0
        x = F.conv2d(x, w, self.bias, stride=stride, padding=padding)
        return act(x) if self.activation else x


class ModulatedConv2d(nn.Module):
    """Modulated (and by default demodulated) convolution, the StyleGAN2 replacement for AdaIN."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, w_dim: int, demodulate: bool = True,
        up: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.affine = FullyConnected(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.weight_gain = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.demodulate, self.padding = demodulate, kernel // 2
        self.up = Resample2x("up") if up else None

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        styles = self.affine(w)  # [N, in_ch]
        weight = self.weight * self.weight_gain
        if self.up is not None:
            x = self.up(x)
        x = x * styles.reshape(n, -1, 1, 1).to(x.dtype)
        x = F.conv2d(x, weight.to(x.dtype), padding=self.padding)
        if self.demodulate:
            # sigma_j^2 = sum_i s_i^2 * sum_k w_ijk^2 (equation 3), per sample and output channel
            sigma2 = styles.float().square() @ weight.float().square().sum(dim=(2, 3)).t()
            x = x * torch.rsqrt(sigma2 + DEMOD_EPS).reshape(n, -1, 1, 1).to(x.dtype)
        return x
