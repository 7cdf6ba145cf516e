"""Which pool items make up each classifier epoch, with what targets and loss weights.

The pool holds the real training images and, optionally, synthetic GAN images with the
discriminator's raw score ``d_score`` (higher = more real-looking). Strategies
(:func:`parse_strategy` joins them with ``+``):

- ``none``: every real image once per epoch (the imbalanced baseline).
- ``oversample``: each class brought up to the largest real class by repeating its real images.
- ``class-weight``: inverse-frequency loss weights of the epoch's classes (:func:`class_weights`).
- ``synthetic-balance``: all real images plus synthetic ones of each class up to the largest real
  class (distinct while enough exist, else repeated; see ``balance_with_replacement``).
- ``synthetic-ratio``: all real images plus synthetic ones making up ``ratio`` of each class.
- ``synthetic-add``: all real images plus, for every class smaller than the largest real class,
  ``add_ratio`` x its real count of synthetic images (the largest class gets none).
- ``cased``: :class:`CasedSampler`, a curriculum after CASED (Jesson et al., "CASED: Curriculum
  Adaptive Sampling for Extreme Data Imbalance", MICCAI 2017).
- ``soft-label``: synthetic images get soft targets from ``d_score`` (:func:`soft_targets`).
- ``synthetic-only``: every synthetic image once per epoch, no real ones (class frequencies are
  the synthetic pool's; every class must have some).
- ``synthetic-pretrain``: ``synthetic-balance`` epochs first (epochs ``< pretrain_epochs``), then
  ``none`` epochs (real images only) to fine-tune on the real distribution.

Repeats are spread evenly: an image set of n filling k > n slots is used ⌊k/n⌋ or ⌈k/n⌉ times
per image. One composition (:data:`COMPOSITIONS`) combines with ``class-weight`` (not with
``oversample``, ``cased`` or ``synthetic-pretrain``, which set class frequencies themselves, the
last differently in each phase) and ``soft-label`` (only where synthetic images are used).
Epochs are a pure function of (seed, epoch) and, for ``cased``, the recorded losses; the epoch
is shuffled, so "per batch" holds in expectation.
"""

from __future__ import annotations

from typing import Any

from lesiongan.classify.cased import CasedSampler
from lesiongan.classify.epochs import EpochSampler
from lesiongan.classify.pool import (
    COMPOSITIONS,
    MODIFIERS,
    STRATEGIES,
    USES_SYNTHETIC,
    Pool,
    SamplerParams,
    build_pool,
    parse_strategy,
)
from lesiongan.classify.targets import (
    class_weights,
    compute_cased_p,
    score_confidence,
    soft_targets,
)

__all__ = [
    "COMPOSITIONS",
    "MODIFIERS",
    "STRATEGIES",
    "USES_SYNTHETIC",
    "CasedSampler",
    "EpochSampler",
    "Pool",
    "SamplerParams",
    "build_pool",
    "build_sampler",
    "class_weights",
    "compute_cased_p",
    "parse_strategy",
    "score_confidence",
    "soft_targets",
]


def build_sampler(
    pool: Pool,
    strategy: str | tuple[str, ...],
    params: SamplerParams | None = None,
    seed: int = 0,
    calibration: Any = None,
) -> EpochSampler:
    """The sampler for ``strategy`` (a ``+``-joined string or a tuple of names)."""
    text = strategy if isinstance(strategy, str) else "+".join(strategy)
    cls = CasedSampler if "cased" in parse_strategy(text) else EpochSampler
    return cls(pool, text, params or SamplerParams(), seed, calibration)
