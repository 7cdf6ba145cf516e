"""Stratified, seeded, group-keeping splits: the poster's 1200/800 of ISIC 2017."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lesiongan.data.splits import allocate_counts, stratified_group_split

ISIC2017 = {"melanoma": 374, "seborrheic_keratosis": 254, "nevus": 1372}


def test_poster_split_is_1200_800_with_class_distribution_preserved() -> None:
    labels = [k for k, n in ISIC2017.items() for _ in range(n)]
    groups = [f"img{i}" for i in range(len(labels))]
    test = stratified_group_split(labels, groups, 0.4, seed=0)
    assert test.sum() == 800 and (~test).sum() == 1200
    test_counts = Counter(lab for lab, t in zip(labels, test) if t)
    train_counts = Counter(lab for lab, t in zip(labels, test) if not t)
    for cls, n in ISIC2017.items():
        # within one image of the exact share on each side
        assert abs(test_counts[cls] - n * 0.4) < 1
        assert abs(train_counts[cls] - n * 0.6) < 1
    assert train_counts == {"melanoma": 224, "seborrheic_keratosis": 153, "nevus": 823}


def test_split_is_seeded() -> None:
    labels = ["a"] * 50 + ["b"] * 30
    groups = [str(i) for i in range(80)]
    a = stratified_group_split(labels, groups, 0.4, seed=1)
    b = stratified_group_split(labels, groups, 0.4, seed=1)
    c = stratified_group_split(labels, groups, 0.4, seed=2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_split_does_not_depend_on_input_order() -> None:
    labels = ["a"] * 20 + ["b"] * 10
    groups = [f"g{i}" for i in range(30)]
    mask = stratified_group_split(labels, groups, 0.4, seed=3)
    perm = np.random.default_rng(0).permutation(30)
    mask2 = stratified_group_split(
        [labels[i] for i in perm], [groups[i] for i in perm], 0.4, seed=3
    )
    assert {groups[i] for i in range(30) if mask[i]} == {
        groups[perm[j]] for j in range(30) if mask2[j]
    }


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=4, max_size=60),
    n_classes=st.integers(2, 4),
    fraction=st.floats(0.1, 0.9),
    seed=st.integers(0, 10_000),
)
def test_groups_never_straddle_the_split(
    sizes: list[int], n_classes: int, fraction: float, seed: int
) -> None:
    labels, groups = [], []
    for g, size in enumerate(sizes):
        labels += [f"c{g % n_classes}"] * size
        groups += [f"lesion{g}"] * size
    mask = stratified_group_split(labels, groups, fraction, seed)
    side = {}
    for g, m in zip(groups, mask):
        assert side.setdefault(g, m) == m


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_fraction_must_be_inside_zero_one(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        allocate_counts({"a": 3}, fraction)


def test_every_splittable_class_is_on_both_sides() -> None:
    counts = allocate_counts({"a": 2, "b": 2, "c": 100}, 0.1)
    assert counts["a"] == 1 and counts["b"] == 1
    assert allocate_counts({"a": 1, "b": 10}, 0.5)["a"] in (0, 1)
