"""Curriculum adaptive sampling after CASED (Jesson et al., "CASED: Curriculum Adaptive
Sampling for Extreme Data Imbalance", MICCAI 2017), on real and synthetic images."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lesiongan.classify.epochs import EpochSampler
from lesiongan.classify.pool import Pool, SamplerParams
from lesiongan.classify.targets import compute_cased_p


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

    owns_batches = True
    needs_losses = True

    def rescore_indices(self) -> np.ndarray:
        return self.synthetic_indices

    def epoch_stats(self, epoch: int) -> dict[str, Any]:
        return {"curriculum_p": self.curriculum_p(epoch)}

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
