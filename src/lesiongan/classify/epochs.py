"""The epoch sampler of every strategy but ``cased``: which pool items make up an epoch, with
what targets and loss weights (see :mod:`lesiongan.classify.samplers`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from lesiongan.classify.pool import COMPOSITIONS, Pool, SamplerParams, parse_strategy
from lesiongan.classify.targets import class_weights, soft_targets

_DRAW_STRIDE = 1_000_003  # further draws of an epoch are seeded as epoch + draw * stride


def _take(rng: np.random.Generator, items: np.ndarray, k: int) -> np.ndarray:
    """k of ``items``: distinct while k <= len(items), else each ⌊k/n⌋ or ⌈k/n⌉ times."""
    reps, rest = divmod(k, items.size) if items.size else (0, 0)
    return np.concatenate([np.tile(items, reps), rng.choice(items, rest, replace=False)])


class EpochSampler:
    """The epoch composition, targets and loss weights of every strategy but ``cased``.

    Built by :func:`build_sampler`. ``epoch_indices(epoch)`` is a shuffled array of pool
    indices, a pure function of (seed, epoch). ``calibration``: the real scores soft labels are
    calibrated on, when they are not (all) the pool's real items' ``d_score`` (e.g. the scores
    of every image the GAN trained on).
    """

    def __init__(
        self,
        pool: Pool,
        strategy: str | tuple[str, ...],
        params: SamplerParams,
        seed: int = 0,
        calibration: Any = None,
    ) -> None:
        self._calibration = None if calibration is None else np.asarray(calibration, np.float64)
        text = strategy if isinstance(strategy, str) else "+".join(strategy)
        self.pool, self.strategy, self.params, self.seed = pool, parse_strategy(text), params, seed
        self.composition = self.strategy[0] if self.strategy[0] in COMPOSITIONS else "none"
        c = range(pool.n_classes)
        self._real_by_class = [pool.indices(k, synthetic=False) for k in c]
        self._syn_by_class = [pool.indices(k, synthetic=True) for k in c]
        self._check_pool()
        self._targets = np.eye(pool.n_classes)[pool.labels]
        if "soft-label" in self.strategy:
            self._targets[pool.is_synthetic] = self._soft_synthetic_targets()
        self._weights = np.ones(pool.n_classes)
        if "class-weight" in self.strategy:
            self._weights = class_weights(pool.labels[self.epoch_indices(0)], pool.n_classes)

    def _need(self) -> np.ndarray:
        """Synthetic images per class that an epoch asks for (before any cap)."""
        real = self.pool.counts(synthetic=False)
        if self.composition in ("synthetic-balance", "synthetic-pretrain"):
            return real.max() - real
        if self.composition == "synthetic-ratio":
            r = self.params.ratio
            return np.rint(real * r / (1.0 - r)).astype(np.int64)
        if self.composition == "synthetic-add":
            minority = real < real.max()
            return np.where(minority, np.rint(real * self.params.add_ratio), 0).astype(np.int64)
        if self.composition == "synthetic-only":
            return np.ones_like(real)  # every class must be sampled
        return np.zeros_like(real)

    def _check_pool(self) -> None:
        name, real = self.composition, self.pool.counts(synthetic=False)
        if name != "synthetic-only" and real.sum() == 0:
            raise ValueError(f"{name} needs real training images; the pool has none")
        if name == "oversample" and (real == 0).any():
            missing = np.flatnonzero(real == 0).tolist()
            raise ValueError(f"oversample needs a real image of every class; none of {missing}")
        have, need = self.pool.counts(synthetic=True), self._need()
        for c in np.flatnonzero((need > 0) & (have == 0)):
            raise ValueError(f"{name} needs synthetic images of class {c}; the pool has none")

    def _soft_synthetic_targets(self) -> np.ndarray:
        syn, pool = self.pool.is_synthetic, self.pool
        real_scores = pool.d_score[~syn & np.isfinite(pool.d_score)]
        if self._calibration is not None:
            real_scores = self._calibration[np.isfinite(self._calibration)]
        if real_scores.size == 0:
            raise ValueError("soft-label calibrates on real images' d_score; all are NaN")
        if not np.all(np.isfinite(pool.d_score[syn])):
            raise ValueError("soft-label needs a finite d_score for every synthetic image")
        return soft_targets(pool.labels[syn], pool.d_score[syn], pool.n_classes, real_scores)

    def _rng(self, epoch: int) -> np.random.Generator:
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        return np.random.default_rng([self.seed, epoch])

    def composition_at(self, epoch: int) -> str:
        """The composition epoch ``epoch`` follows (``synthetic-pretrain`` switches phase)."""
        if self.composition != "synthetic-pretrain":
            return self.composition
        return "synthetic-balance" if epoch < self.params.pretrain_epochs else "none"

    def epoch_indices(self, epoch: int, draw: int = 0) -> np.ndarray:
        """Pool indices of one epoch, shuffled; batch them in order.

        ``draw`` > 0: a further independent draw of the same epoch's composition (for epochs
        longer than one composition; see the trainer's ``epoch_images``).
        """
        if draw < 0:
            raise ValueError(f"draw must be >= 0, got {draw}")
        rng, name = self._rng(epoch + draw * _DRAW_STRIDE), self.composition_at(epoch)
        real, syn = self._real_by_class, self._syn_by_class
        if name == "oversample":
            target = max(r.size for r in real)
            parts = [_take(rng, r, target) for r in real]
        elif name in ("synthetic-balance", "synthetic-ratio", "synthetic-add"):
            need = self._need()
            if name == "synthetic-balance" and not self.params.balance_with_replacement:
                need = np.minimum(need, [s.size for s in syn])
            parts = real + [_take(rng, s, int(k)) for s, k in zip(syn, need)]
        elif name == "synthetic-only":
            parts = syn
        else:
            parts = real
        return rng.permutation(np.concatenate(parts))

    def targets(self, indices: Any) -> np.ndarray:
        """Targets [n, C] (float64) of pool items: one-hot, soft for synthetic with soft-label."""
        return self._targets[np.asarray(indices, dtype=np.int64)]

    def loss_weights(self, indices: Any) -> np.ndarray:
        """Per-sample loss multipliers: the class weight with class-weight, else 1."""
        return self._weights[self.pool.labels[np.asarray(indices, dtype=np.int64)]]

    # What the trainer asks of any sampler (instead of checking its class). A sampler that
    # ``owns_batches`` fixes each epoch's batches itself (``epoch_batches(epoch)[0]``, the same
    # number every epoch); one that ``needs_losses`` is told every trained item's loss
    # (``update_losses``) and, before epochs where ``rescore_due``, the loss of every item of
    # ``rescore_indices()``.
    owns_batches = False
    needs_losses = False

    def rescore_due(self, epoch: int) -> bool:
        return False

    def rescore_indices(self) -> np.ndarray:
        return np.empty(0, dtype=np.int64)

    def update_losses(self, indices: Any, losses: Any) -> None:
        """Losses of pool items; this sampler does not use them."""

    def epoch_stats(self, epoch: int) -> dict[str, Any]:
        """Extra per-epoch numbers for the training history."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Plain Python values only (safe for ``torch.load(weights_only=True)``)."""
        return {
            "strategy": "+".join(self.strategy),
            "seed": self.seed,
            "n_items": self.pool.labels.size,
            "params": dataclasses.asdict(self.params),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mine = EpochSampler.state_dict(self)
        # options added since the state was saved read as their defaults (old runs resume)
        defaults = dataclasses.asdict(SamplerParams())
        state = {**state, "params": {**defaults, **state.get("params", {})}}
        for key, value in mine.items():
            if state.get(key) != value:
                raise ValueError(f"sampler state has {key}={state.get(key)!r}, expected {value!r}")
