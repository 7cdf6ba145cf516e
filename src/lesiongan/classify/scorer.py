"""A trained classifier as an :class:`~lesiongan.data.scoring.ImageScorer`.

``gan sample --select classifier|realism`` scores candidates with a classifier trained on real
images (a ``classify train`` run); the GAN layer takes the scorer through the protocol, and the
CLI and the experiments pass :func:`load_classifier_scorer` in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lesiongan.classify.models import load_classifier, penultimate
from lesiongan.data.scoring import ImageScorer
from lesiongan.utils.hashing import sha256_file


class ClassifierScorer:
    """Probabilities and penultimate features of a real-trained classifier for uint8 images."""

    def __init__(self, run: Path, device: torch.device) -> None:
        self.run = Path(run)
        self.path = self.run / "model.pt" if self.run.is_dir() else self.run
        model, meta = load_classifier(self.path)
        self.meta = meta
        self.classes = list(meta["classes"])
        self.model = model.to(device)
        self.body = penultimate(model, meta["model"]).to(device)
        self.size = int(meta["image_size"])
        self.mean = torch.tensor(meta["mean"], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(meta["std"], device=device).view(1, 3, 1, 1)
        self.device = device
        self.sha256 = sha256_file(self.path)

    def _inputs(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.to(self.device).float() / 255.0
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def probabilities(self, pixels: torch.Tensor) -> np.ndarray:
        """uint8 NCHW -> softmax probabilities [N, classes]."""
        return torch.softmax(self.model(self._inputs(pixels)).float(), 1).cpu().numpy()

    @torch.no_grad()
    def features(self, pixels: torch.Tensor) -> np.ndarray:
        """uint8 NCHW -> penultimate features [N, D]."""
        return self.body(self._inputs(pixels)).flatten(1).float().cpu().numpy()


def load_classifier_scorer(run: Path, device: torch.device) -> ImageScorer:
    """A :data:`~lesiongan.data.scoring.ScorerLoader`: a classify run (or its model.pt)."""
    return ClassifierScorer(run, device)
