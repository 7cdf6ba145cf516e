"""The image scorer seam: how a stage scores images with a model it must not import.

``gan sample --select classifier|realism`` ranks candidates by a classifier trained on real
images, but the GAN layer may not import the classifier (DESIGN.md's layers). It takes an
:class:`ImageScorer` instead, made by a :data:`ScorerLoader` that a layer allowed to import the
classifier passes in (the CLI and the experiments pass
:func:`lesiongan.classify.scorer.load_classifier_scorer`). The protocol lives here, in the
lowest layer that both sides import.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch


class ImageScorer(Protocol):
    """Scores uint8 NCHW images (any size: the scorer resizes) with a trained model."""

    classes: list[str]  # the columns of probabilities()
    path: Path  # the model file (recorded in provenance)
    sha256: str  # its hash (recorded in synthetic.json)

    def probabilities(self, pixels: torch.Tensor) -> np.ndarray:
        """uint8 NCHW -> class probabilities [N, len(classes)]."""
        ...

    def features(self, pixels: torch.Tensor) -> np.ndarray:
        """uint8 NCHW -> feature vectors [N, D] (for k-NN realism)."""
        ...


# (the run or model file the user named, device) -> a scorer; errors are one-line LesionganErrors
ScorerLoader = Callable[[Path, "torch.device"], ImageScorer]
