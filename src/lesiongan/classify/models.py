"""Classifier backbones from torchvision, with ImageNet weights from local files only.

``pretrained`` is ``None`` (random init), a path to a torchvision state dict, or ``"imagenet"``,
which looks in torch's documented cache (``$TORCH_HOME/hub/checkpoints/``, by default
``~/.cache/torch/hub/checkpoints/``) for the file torchvision would download. Nothing is ever
downloaded: a missing file is an error that says where to put it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision import models

from lesiongan.errors import LesionganError
from lesiongan.utils.stage import StateFileError, load_state, save_state

# name -> (constructor, ImageNet weights enum member, attribute path of the classifier layer)
_BACKBONES: dict[str, tuple[Callable[..., nn.Module], object, str]] = {
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1, "fc"),
    "resnet50": (models.resnet50, models.ResNet50_Weights.IMAGENET1K_V2, "fc"),
    "efficientnet_b0": (
        models.efficientnet_b0,
        models.EfficientNet_B0_Weights.IMAGENET1K_V1,
        "classifier.1",
    ),
}
MODELS = tuple(_BACKBONES)


def imagenet_cache_path(name: str) -> Path:
    """Where torchvision would cache this backbone's ImageNet weights (we only read it)."""
    weights = _backbone(name)[1]
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name  # type: ignore[attr-defined]


def build_model(name: str, n_classes: int, pretrained: str | Path | None = None) -> nn.Module:
    """A torchvision backbone with an ``n_classes`` head; any input size works (global pooling)."""
    ctor, weights, head = _backbone(name)
    if n_classes < 2:
        raise LesionganError(f"a classifier needs at least 2 classes, got {n_classes}")
    model = ctor(weights=None)
    if pretrained is not None:
        path = imagenet_cache_path(name) if str(pretrained) == "imagenet" else Path(pretrained)
        url = weights.url  # type: ignore[attr-defined]
        if not path.is_file():
            raise LesionganError(
                f"{path}: ImageNet weights for {name} not found. Nothing is downloaded at run "
                f"time: fetch {url} on a machine with internet and put it there "
                "(or pass --pretrained PATH), or train from scratch without --pretrained"
            )
        _load_backbone(model, path, name, head)
    _replace_head(model, head, n_classes)
    for m in model.modules():
        # torchvision's EfficientNet uses momentum 0.01: after the few hundred steps of a
        # small-dataset run its running statistics would still be near the initial ones
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    return model


def _backbone(name: str) -> tuple[Callable[..., nn.Module], object, str]:
    if name not in _BACKBONES:
        raise LesionganError(f"unknown model {name!r} (choose from {', '.join(MODELS)})")
    return _BACKBONES[name]


def _load_backbone(model: nn.Module, path: Path, name: str, head: str) -> None:
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


def _replace_head(model: nn.Module, head: str, n_classes: int) -> None:
    parent = model
    *path, last = head.split(".")
    for part in path:
        parent = getattr(parent, part)
    old = getattr(parent, last) if not last.isdigit() else parent[int(last)]
    new = nn.Linear(old.in_features, n_classes)
    if last.isdigit():
        parent[int(last)] = new
    else:
        setattr(parent, last, new)


# A trained classifier, as ``classify train`` writes it (``RUN/model.pt``) and the ``domain``
# feature extractor of ``eval`` reads it. Inputs are RGB in [0, 1], resized to ``image_size``,
# then normalized with ``mean``/``std`` (ImageNet statistics).
CLASSIFIER_FORMAT = "lesiongan-classifier/1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
    payload = {
        "model": name,
        "classes": list(classes),
        "image_size": int(image_size),
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
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
    model = build_model(meta["model"], len(meta["classes"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise LesionganError(
            f"{path}: weights do not fit {meta['model']} ({str(exc).splitlines()[-1].strip()})"
        ) from None
    return model.eval(), meta


def penultimate(model: nn.Module, name: str) -> nn.Module:
    """The backbone without its classification head: maps images to pooled features."""
    import copy

    head = _backbone(name)[2]
    body = copy.deepcopy(model)
    parent = body
    *parts, last = head.split(".")
    for part in parts:
        parent = getattr(parent, part)
    if last.isdigit():
        parent[int(last)] = nn.Identity()
    else:
        setattr(parent, last, nn.Identity())
    return body.eval()
