"""Seeded, stratified train/test splits that keep groups (lesions) together.

The poster's split (60/40 of the ISIC 2017 training set: 1200/800 of 2000) preserves the class
distribution exactly up to rounding: per-class test counts are allocated by the largest-remainder
method so the totals match ``round(n * test_fraction)`` and every class with at least two images
appears on both sides.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from fractions import Fraction

import numpy as np

__all__ = ["allocate_counts", "stratified_group_split"]


def allocate_counts(counts: Mapping[str, int], fraction: float) -> dict[str, int]:
    """How many of each class go to the ``fraction`` side (largest remainder, at least one each).

    >>> allocate_counts({"melanoma": 374, "seborrheic_keratosis": 254, "nevus": 1372}, 0.4)
    {'melanoma': 150, 'seborrheic_keratosis': 101, 'nevus': 549}
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    frac = Fraction(str(fraction))  # exact arithmetic: float noise must not break ties
    total = sum(counts.values())
    target = round(total * frac)
    exact = {k: n * frac for k, n in counts.items()}
    out = {k: math.floor(v) for k, v in exact.items()}
    # Ties broken by class name so the allocation is deterministic and seed-independent.
    order = sorted(counts, key=lambda k: (-(exact[k] - out[k]), k))
    for k in order[: max(0, target - sum(out.values()))]:
        out[k] += 1
    for k, n in counts.items():  # both sides need every class that can be split at all
        if n >= 2:
            out[k] = min(max(out[k], 1), n - 1)
    return out


def stratified_group_split(
    labels: Sequence[str],
    groups: Sequence[str],
    fraction: float,
    seed: int,
) -> np.ndarray:
    """Boolean mask of the items that go to the ``fraction`` side (e.g. test).

    Items sharing a group always land on the same side. Groups are assigned per class in a
    seeded random order until the class's allocated count is reached; when groups have one item
    each (the common case) the counts are exact. A group whose items carry several labels is
    stratified by its most frequent label.
    """
    if len(labels) != len(groups):
        raise ValueError("labels and groups must have the same length")
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    group_label = {g: _majority([labels[i] for i in idx]) for g, idx in members.items()}
    by_class: dict[str, list[str]] = defaultdict(list)
    for g in sorted(members):  # sorted: independent of input order
        by_class[group_label[g]].append(g)
    class_counts = {c: sum(len(members[g]) for g in gs) for c, gs in by_class.items()}
    wanted = allocate_counts(class_counts, fraction)
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for cls in sorted(by_class):
        gs = by_class[cls]
        order = rng.permutation(len(gs))
        taken = 0
        for j in order:
            idx = members[gs[j]]
            if taken >= wanted[cls]:
                break
            # Skip a group that would overshoot by more than it helps (large lesions groups).
            if taken + len(idx) > wanted[cls] and (taken + len(idx) - wanted[cls]) > (
                wanted[cls] - taken
            ):
                continue
            mask[idx] = True
            taken += len(idx)
    return mask


def _majority(values: list[str]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for v in values:
        counts[v] += 1
    return max(sorted(counts), key=lambda k: counts[k])
