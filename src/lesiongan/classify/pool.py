"""What a classifier may train on (:class:`Pool`), the strategy names, and their options.

See :mod:`lesiongan.classify.samplers` for what each strategy does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# a composition decides which items make up an epoch; a modifier changes targets or weights
COMPOSITIONS = ("none", "oversample", "synthetic-balance", "synthetic-ratio", "cased")
COMPOSITIONS += ("synthetic-only", "synthetic-pretrain", "synthetic-add")
MODIFIERS = ("class-weight", "soft-label")
STRATEGIES = COMPOSITIONS + MODIFIERS
USES_SYNTHETIC = ("synthetic-balance", "synthetic-ratio", "cased", "synthetic-only")
USES_SYNTHETIC += ("synthetic-pretrain", "synthetic-add")
_SETS_CLASS_FREQUENCIES = ("oversample", "cased", "synthetic-pretrain")


@dataclass(frozen=True)
class Pool:
    """Everything a classifier may train on; item i is item i of the caller's dataset.

    ``labels``: int class in [0, n_classes). ``is_synthetic``: bool. ``d_score``: the
    discriminator's raw score, NaN where unscored; ``soft-label`` needs it for every synthetic
    item and for the real items it calibrates on (scored the same way, with their own labels).
    """

    labels: np.ndarray
    is_synthetic: np.ndarray
    d_score: np.ndarray
    n_classes: int

    def __post_init__(self) -> None:
        labels, syn = np.asarray(self.labels), np.asarray(self.is_synthetic)
        score = np.asarray(self.d_score, dtype=np.float64)
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError("labels must be a non-empty 1-D array")
        if syn.shape != labels.shape or score.shape != labels.shape:
            raise ValueError("labels, is_synthetic and d_score must have the same length")
        if not np.issubdtype(labels.dtype, np.integer) or syn.dtype != np.bool_:
            raise ValueError("labels must be integers and is_synthetic booleans")
        if self.n_classes < 2 or labels.min() < 0 or labels.max() >= self.n_classes:
            raise ValueError("labels must lie in [0, n_classes) with n_classes >= 2")
        object.__setattr__(self, "labels", labels.astype(np.int64))
        object.__setattr__(self, "is_synthetic", syn)
        object.__setattr__(self, "d_score", score)

    def indices(self, cls: int | None = None, synthetic: bool | None = None) -> np.ndarray:
        """Pool indices of class ``cls`` (None = any) that are synthetic/real (None = both)."""
        mask = np.ones(self.labels.shape, dtype=bool)
        if cls is not None:
            mask &= self.labels == cls
        if synthetic is not None:
            mask &= self.is_synthetic == synthetic
        return np.flatnonzero(mask)

    def counts(self, synthetic: bool) -> np.ndarray:
        """Items per class among the synthetic (True) or real (False) items."""
        return np.bincount(self.labels[self.is_synthetic == synthetic], minlength=self.n_classes)


def build_pool(
    real_labels: Any,
    n_classes: int,
    synthetic_labels: Any = (),
    synthetic_scores: Any = None,
    real_scores: Any = None,
) -> Pool:
    """A pool of the real items (indices 0..n_real-1) followed by the synthetic ones."""
    real = np.asarray(real_labels, dtype=np.int64)
    syn = np.asarray(synthetic_labels, dtype=np.int64)
    nan_r, nan_s = np.full(real.size, np.nan), np.full(syn.size, np.nan)
    r_score = nan_r if real_scores is None else np.asarray(real_scores, dtype=np.float64)
    s_score = nan_s if synthetic_scores is None else np.asarray(synthetic_scores, dtype=np.float64)
    return Pool(
        labels=np.concatenate([real, syn]),
        is_synthetic=np.concatenate([np.zeros(real.size, bool), np.ones(syn.size, bool)]),
        d_score=np.concatenate([r_score, s_score]),
        n_classes=n_classes,
    )


@dataclass(frozen=True)
class SamplerParams:
    """Strategy options; each is read only by the strategy named in its comment."""

    ratio: float = 0.5  # synthetic-ratio: synthetic fraction of each class, in [0, 1)
    balance_with_replacement: bool = True  # synthetic-balance: repeat synthetic images if short
    batch_size: int = 32  # cased: batch epoch_indices with this size, in order, unshuffled
    epoch_size: int | None = None  # cased: items per epoch, rounded up to whole batches
    n_epochs: int = 30  # cased: p anneals from 1 at epoch 0 to p_end at epoch n_epochs - 1
    p_end: float | None = None  # cased: final p in (0, 1]; None = real share of rarest class
    synthetic_share: float = 0.75  # cased: synthetic share of a minority class's slots
    max_reuse: int = 2  # cased: uses of one synthetic image per epoch
    rescore_every: int = 1  # cased: epochs between full re-scorings of the synthetic pool
    pretrain_epochs: int = 15  # synthetic-pretrain: epochs [0, pretrain_epochs) add synthetic
    # synthetic-add: synthetic images per real image of each class smaller than the largest
    add_ratio: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"ratio must be in [0, 1), got {self.ratio}")
        if self.batch_size < 1 or self.n_epochs < 2 or self.max_reuse < 1:
            raise ValueError("batch_size and max_reuse must be >= 1 and n_epochs >= 2")
        if self.epoch_size is not None and self.epoch_size < 1:
            raise ValueError(f"epoch_size must be >= 1, got {self.epoch_size}")
        if self.p_end is not None and not 0.0 < self.p_end <= 1.0:
            raise ValueError(f"p_end must be in (0, 1], got {self.p_end}")
        if not 0.0 <= self.synthetic_share <= 1.0 or self.rescore_every < 1:
            raise ValueError("synthetic_share must be in [0, 1] and rescore_every >= 1")
        if not self.add_ratio > 0.0:
            raise ValueError(f"add_ratio must be > 0, got {self.add_ratio}")
        if self.pretrain_epochs < 0:
            raise ValueError(f"pretrain_epochs must be >= 0, got {self.pretrain_epochs}")


def parse_strategy(text: str) -> tuple[str, ...]:
    """``"synthetic-balance+class-weight"`` -> ``("synthetic-balance", "class-weight")``.

    Parts come back in :data:`STRATEGIES` order: the composition, then the modifiers.
    """
    parts = [p.strip() for p in text.split("+")]
    for p in parts:
        if p not in STRATEGIES:
            raise ValueError(f"unknown strategy {p!r} in {text!r}; known: {', '.join(STRATEGIES)}")
    if len(set(parts)) != len(parts):
        raise ValueError(f"strategy {text!r} names a part twice")
    comps = [p for p in parts if p in COMPOSITIONS]
    if len(comps) > 1:
        raise ValueError(f"{' and '.join(comps)} cannot be combined: each sets the epoch itself")
    if "none" in parts and len(parts) > 1:
        raise ValueError(f"'none' is the plain baseline and takes no other part: {text!r}")
    comp = comps[0] if comps else "none"
    if "class-weight" in parts and comp in _SETS_CLASS_FREQUENCIES:
        raise ValueError(
            f"class-weight cannot be combined with {comp}, which sets class frequencies"
        )
    if "soft-label" in parts and comp not in USES_SYNTHETIC:
        raise ValueError(f"soft-label needs one of {', '.join(USES_SYNTHETIC)}: {text!r}")
    return tuple(sorted(parts, key=STRATEGIES.index))
