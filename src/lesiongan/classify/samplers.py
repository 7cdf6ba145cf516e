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

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# a composition decides which items make up an epoch; a modifier changes targets or weights
COMPOSITIONS = ("none", "oversample", "synthetic-balance", "synthetic-ratio", "cased")
COMPOSITIONS += ("synthetic-only", "synthetic-pretrain")
MODIFIERS = ("class-weight", "soft-label")
STRATEGIES = COMPOSITIONS + MODIFIERS
USES_SYNTHETIC = ("synthetic-balance", "synthetic-ratio", "cased", "synthetic-only")
USES_SYNTHETIC += ("synthetic-pretrain",)
_SETS_CLASS_FREQUENCIES = ("oversample", "cased", "synthetic-pretrain")
_DRAW_STRIDE = 1_000_003  # further draws of an epoch are seeded as epoch + draw * stride


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


def class_weights(labels: Any, n_classes: int) -> np.ndarray:
    """Inverse-frequency weight per class, ``n / (k * n_c)`` for the k classes present.

    The mean weight over the samples is 1; absent classes get 0.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    if counts.size != n_classes or counts.sum() == 0:
        raise ValueError(f"labels must be non-empty and in [0, {n_classes})")
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w


def score_confidence(d_score: Any, real_scores: Any) -> np.ndarray:
    """Calibrated confidence in [0, 1]: the mid-rank empirical CDF of ``real_scores``.

    ``(#{r < s} + #{r == s} / 2) / n``: 0 below every real score, 1 above every real score,
    exactly 0.5 at the median of the real scores; non-decreasing in ``d_score``.
    """
    ref = np.sort(np.asarray(real_scores, dtype=np.float64).ravel())
    s = np.asarray(d_score, dtype=np.float64)
    if ref.size == 0 or not np.all(np.isfinite(ref)) or not np.all(np.isfinite(s)):
        raise ValueError("need at least one real score, and all scores finite")
    below = np.searchsorted(ref, s, side="left")
    not_above = np.searchsorted(ref, s, side="right")
    return (below + not_above) / (2.0 * ref.size)


def soft_targets(labels: Any, d_score: Any, n_classes: int, real_scores: Any) -> np.ndarray:
    """Soft targets [N, C]: ``conf * onehot(label) + (1 - conf) / C``, rows summing to 1.

    ``conf = score_confidence(d_score, real_scores)``, calibrated on the real training images'
    scores: a synthetic image D scores like the median real image gets conf 0.5; one below all
    real images gets the uniform target. The intended class's probability,
    ``1 / C + conf * (1 - 1 / C)``, is non-decreasing in ``d_score``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    conf = score_confidence(d_score, real_scores)
    if labels.ndim != 1 or conf.shape != labels.shape:
        raise ValueError("labels and d_score must be 1-D and of the same length")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes})")
    out = np.repeat(((1.0 - conf) / n_classes)[:, None], n_classes, axis=1)
    out[np.arange(labels.size), labels] += conf
    return out


def compute_cased_p(epoch: int, n_epochs: int, p_end: float) -> float:
    """Probability of a curriculum batch: ``p_end ** min(1, epoch / (n_epochs - 1))``.

    Geometric from 1 at epoch 0 to ``p_end`` at epoch ``n_epochs - 1``, constant after; the same
    as ``max(p_end, decay ** epoch)`` with ``decay = p_end ** (1 / (n_epochs - 1))``.
    """
    return float(p_end ** min(1.0, epoch / (n_epochs - 1)))


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
        elif name in ("synthetic-balance", "synthetic-ratio"):
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
        for key, value in mine.items():
            if state.get(key) != value:
                raise ValueError(f"sampler state has {key}={state.get(key)!r}, expected {value!r}")


class _SyntheticPicker:
    """One epoch's synthetic images of the curriculum's classes, each used at most ``cap`` times.

    Hard picks: the highest-loss images under the cap (distinct within one call). Random picks:
    a shuffled deck holding every image ``cap`` times.
    """

    def __init__(
        self, rng: np.random.Generator, by_class: dict[int, np.ndarray], loss: np.ndarray, cap: int
    ) -> None:
        self.cap, self.uses = cap, np.zeros(loss.size, dtype=np.int64)
        # random tie-break, so equal (e.g. unscored = inf) losses are not taken in index order
        self.hard = {c: s[np.lexsort((rng.random(s.size), -loss[s]))] for c, s in by_class.items()}
        self.deck = {c: np.tile(rng.permutation(s), cap) for c, s in by_class.items()}
        self.hard_pos = dict.fromkeys(by_class, 0)
        self.deck_pos = dict.fromkeys(by_class, 0)

    def take_hard(self, c: int, n: int) -> list[int]:
        seq, pos = self.hard[c], self.hard_pos[c]
        while pos < seq.size and self.uses[seq[pos]] >= self.cap:
            pos += 1
        self.hard_pos[c] = pos
        out: list[int] = []
        for i in seq[pos:]:
            if len(out) == n:
                break
            if self.uses[i] < self.cap:
                out.append(int(i))
        self.uses[out] += 1
        return out

    def take_random(self, c: int, n: int) -> list[int]:
        seq, pos, out = self.deck[c], self.deck_pos[c], []
        while len(out) < n and pos < seq.size:
            i = int(seq[pos])
            pos += 1
            if self.uses[i] < self.cap:
                self.uses[i] += 1
                out.append(i)
        self.deck_pos[c] = pos
        return out


class _Stream:
    """Items in shuffled passes, reshuffled when a pass is used up."""

    def __init__(self, rng: np.random.Generator, items: np.ndarray) -> None:
        self.rng, self.items, self.buf = rng, items, np.empty(0, dtype=np.int64)

    def take(self, k: int) -> np.ndarray:
        while self.buf.size < k:
            self.buf = np.concatenate([self.buf, self.rng.permutation(self.items)])
        out, self.buf = self.buf[:k], self.buf[k:]
        return out


class CasedSampler(EpochSampler):
    """Curriculum adaptive sampling after CASED (Jesson et al., MICCAI 2017).

    An epoch is ``n_batches = ceil(epoch_size / batch_size)`` batches (``epoch_size`` defaults
    to the number of real images). Batch b of epoch t is a curriculum batch with probability
    ``p_t = compute_cased_p(t, n_epochs, p_end)``, else a data batch. ``p_end`` defaults to the
    real-data share of the rarest class (CASED anneals from 1 to the positives' data share).

    - Data batch: real images in shuffled passes, i.e. the real class distribution.
    - Curriculum batch: class-balanced (``batch_size // C`` per class, the remainder to random
      classes). In each minority class (fewer real images than the largest) a share
      ``synthetic_share`` of the slots, rounded, are synthetic images of that class; the other
      slots are real images of the class (also when its synthetic images are all capped).
    - Hard examples: each synthetic slot is, with probability ``h_t = (1 - p_t) / (1 - p_end)``
      (0 at epoch 0, 1 once annealed), the highest-loss synthetic image of its class that has
      been used fewer than ``max_reuse`` times this epoch, else an image taken in random order
      under the same cap. Unscored images rank as hardest, so each is scored before it is
      passed over.
    - Losses come from :meth:`update_losses`; call it after each batch with per-sample losses
      and, when :meth:`rescore_due`, with the losses of the whole synthetic pool.
    """

    def __init__(
        self,
        pool: Pool,
        strategy: str | tuple[str, ...],
        params: SamplerParams,
        seed: int = 0,
        calibration: Any = None,
    ) -> None:
        super().__init__(pool, strategy, params, seed, calibration)
        real = pool.counts(synthetic=False)
        default_end = real.min() / real.sum()
        self.p_end = float(params.p_end if params.p_end is not None else default_end)
        self.minority = real < real.max()
        self.n_batches = math.ceil((params.epoch_size or int(real.sum())) / params.batch_size)
        self.synthetic_indices = pool.indices(synthetic=True)
        self._loss = np.full(pool.labels.size, np.inf)

    def _need(self) -> np.ndarray:
        real = self.pool.counts(synthetic=False)
        if self.params.synthetic_share == 0:  # a real-only curriculum needs no synthetic images
            return np.zeros_like(real)
        return (real < real.max()).astype(np.int64)

    def _check_pool(self) -> None:
        real = self.pool.counts(synthetic=False)
        if (real == 0).any():
            missing = np.flatnonzero(real == 0).tolist()
            raise ValueError(f"cased needs a real image of every class; none of {missing}")
        super()._check_pool()

    def curriculum_p(self, epoch: int) -> float:
        return compute_cased_p(epoch, self.params.n_epochs, self.p_end)

    def hard_fraction(self, epoch: int) -> float:
        """Share of synthetic slots given to hard examples: 0 at epoch 0, 1 once annealed."""
        if self.p_end >= 1.0:
            return 0.0
        return (1.0 - self.curriculum_p(epoch)) / (1.0 - self.p_end)

    def rescore_due(self, epoch: int) -> bool:
        """True before epochs whose synthetic-pool losses should be recomputed by the caller."""
        return epoch > 0 and epoch % self.params.rescore_every == 0

    def update_losses(self, indices: Any, losses: Any) -> None:
        """Record per-image losses (last one wins); real items are ignored."""
        idx = np.asarray(_as_numpy(indices), dtype=np.int64).ravel()
        val = np.asarray(_as_numpy(losses), dtype=np.float64).ravel()
        if idx.shape != val.shape:
            raise ValueError(f"{idx.size} indices but {val.size} losses")
        if idx.size and (idx.min() < 0 or idx.max() >= self.pool.labels.size):
            raise ValueError(f"indices must lie in [0, {self.pool.labels.size})")
        if not np.all(np.isfinite(val)):
            raise ValueError("losses must be finite")
        keep = self.pool.is_synthetic[idx]
        self._loss[idx[keep]] = val[keep]

    def epoch_batches(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Pool indices [n_batches, batch_size] and which batches are curriculum batches."""
        rng, bs = self._rng(epoch), self.params.batch_size
        h = self.hard_fraction(epoch)
        is_cur = rng.random(self.n_batches) < self.curriculum_p(epoch)
        data = _Stream(rng, self.pool.indices(synthetic=False))
        real = [_Stream(rng, r) for r in self._real_by_class]
        by_class = {c: self._syn_by_class[c] for c in np.flatnonzero(self.minority)}
        picker = _SyntheticPicker(rng, by_class, self._loss, self.params.max_reuse)
        out = np.empty((self.n_batches, bs), dtype=np.int64)
        for b in range(self.n_batches):
            out[b] = self._curriculum_batch(rng, h, real, picker) if is_cur[b] else data.take(bs)
        return out, is_cur

    def _curriculum_batch(
        self, rng: np.random.Generator, h: float, real: list[_Stream], picker: _SyntheticPicker
    ) -> np.ndarray:
        bs, n_classes = self.params.batch_size, self.pool.n_classes
        per_class = np.full(n_classes, bs // n_classes)
        per_class[rng.choice(n_classes, bs % n_classes, replace=False)] += 1
        parts = []
        for c, k in enumerate(per_class.tolist()):
            syn: list[int] = []
            if self.minority[c]:
                n_syn = math.floor(self.params.synthetic_share * k + 0.5)  # not banker's rounding
                n_hard = int(rng.binomial(n_syn, h))
                syn = picker.take_hard(c, n_hard) + picker.take_random(c, n_syn - n_hard)
            parts += [np.asarray(syn, dtype=np.int64), real[c].take(k - len(syn))]
        return rng.permutation(np.concatenate(parts))

    def epoch_indices(self, epoch: int, draw: int = 0) -> np.ndarray:
        """``epoch_batches(epoch)[0]`` flattened; batch it in order with ``batch_size``.

        The curriculum sets the epoch's length itself (``epoch_size``): no further draws.
        """
        if draw != 0:
            raise ValueError("cased epochs are epoch_size long; there are no further draws")
        return self.epoch_batches(epoch)[0].ravel()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["synthetic_loss"] = self._loss[self.synthetic_indices].tolist()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        loss = np.asarray(state["synthetic_loss"], dtype=np.float64)
        if loss.shape != self.synthetic_indices.shape:
            raise ValueError(
                f"sampler state has {loss.size} synthetic losses, expected "
                f"{self.synthetic_indices.size}"
            )
        self._loss[self.synthetic_indices] = loss


def _as_numpy(x: Any) -> Any:
    """Tensors (any device) to numpy; anything else unchanged."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x


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
