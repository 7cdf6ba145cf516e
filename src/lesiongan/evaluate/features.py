"""Feature extractors for the audit metrics, and a cache of feature matrices per image set.

* ``inception``: the FID Inception-v3 of Heusel et al. 2017 with the TensorFlow 2015-12-05
  weights, through torch-fidelity's port (bit-compatible resizing to 299 px), pool3 features
  (2048-d). Scores are comparable with published FIDs. Weights come only from a local file:
  ``--inception-weights``, ``$LESIONGAN_INCEPTION_WEIGHTS``, or the cache where torch-fidelity
  and torchmetrics keep them (``$TORCH_HOME/hub/checkpoints/`` + :data:`INCEPTION_FILE`).
* ``domain``: the penultimate layer of a lesiongan classifier (``classify train`` run).
* ``random``: a fixed-seed random convolutional network; for smoke tests only.

Every extractor has an ``id`` that names it exactly (it is recorded next to every metric and is
part of the cache key). Inputs are uint8 ``N x H x W x 3``; outputs float32 ``N x D``.
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
from lesiongan.evaluate.images import ImageSet, read_images
from lesiongan.utils.parallel import ProgressFn

log = logging.getLogger(__name__)
EXTRACTORS = ("inception", "domain", "random")
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILE
)
INCEPTION_ENV = "LESIONGAN_INCEPTION_WEIGHTS"


class FeatureExtractor:
    """``extractor(uint8 NHWC batch) -> float32 N x D`` on ``device``."""

    def __init__(
        self, id: str, net: Callable[[torch.Tensor], torch.Tensor], dim: int, device: torch.device
    ) -> None:
        self.id, self.net, self.dim, self.device = id, net, dim, device

    @property
    def kind(self) -> str:
        return self.id.split(":", 1)[0]

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
            f"--inception-weights PATH / set {INCEPTION_ENV}); or use --features domain "
            "--classifier RUN, or --features random (smoke tests only)"
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


def build_extractor(
    kind: str,
    device: torch.device,
    inception_weights: Path | None = None,
    classifier: Path | None = None,
) -> FeatureExtractor:
    if kind == "inception":
        return build_inception(inception_weights, device)
    if kind == "domain":
        return build_domain(classifier, device)
    if kind == "random":
        return build_random(device)
    raise LesionganError(f"--features {kind!r}: choose one of {', '.join(EXTRACTORS)}")


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


def cached_features(
    extractor: FeatureExtractor,
    images: ImageSet,
    size_px: int,
    cache_dir: Path | None,
    batch_size: int = 64,
    pixels: np.ndarray | None = None,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """Features of an image set, read from / written to ``cache_dir`` (keyed by the set's file
    hashes, the read size and the extractor id) when one is given."""
    key = hashlib.sha256(f"{images.fingerprint(size_px)}:{extractor.id}".encode()).hexdigest()
    path = Path(cache_dir) / f"{key[:32]}.npy" if cache_dir is not None else None
    if path is not None and path.is_file():
        feats = np.load(path)
        if feats.shape == (len(images), extractor.dim):
            log.info("features of %s from cache %s", images.name, path)
            return feats
    if pixels is None:
        pixels = read_images(images, size_px)
    feats = compute_features(extractor, pixels, batch_size, progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npy")
        np.save(tmp, feats)
        os.replace(tmp, path)
    return feats


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:12]
