"""Intervals over seeds and CAS, against hand-computed values (the paired differences:
``test_stats.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from lesiongan.experiments.aggregate import (
    classification_accuracy_score,
    seed_interval,
    summarize,
    t_interval,
)

CLASSES = ["melanoma", "seborrheic_keratosis", "nevus"]


def test_seed_interval_is_the_student_t_interval() -> None:
    m = seed_interval([0.5, 0.6, 0.7])
    half = 4.302652729911275 * 0.1 / np.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert m["mean"] == pytest.approx(0.6) and m["n"] == 3
    assert m["ci_low"] == pytest.approx(0.6 - half) and m["ci_high"] == pytest.approx(0.6 + half)
    near_one = seed_interval([0.9, 1.0, 1.0])
    assert near_one["ci_high"] == 1.0 and near_one["ci_low"] < 0.97  # clipped to the range
    one = seed_interval([0.7])
    assert one["mean"] == 0.7 and one["ci_low"] is None  # no interval from one seed
    assert seed_interval([None, 0.5, 0.7])["n"] == 2


def test_summarize_keys_per_strategy() -> None:
    runs = {"none": {0: {"balanced_accuracy": 0.5}, 1: {"balanced_accuracy": 0.7}}}
    s = summarize(runs, CLASSES)["none"]
    assert s["balanced_accuracy"]["mean"] == pytest.approx(0.6)
    assert s["sensitivity_melanoma"]["mean"] is None  # absent from the runs


def test_t_interval() -> None:
    mean, lo, hi = t_interval([0.1, 0.2, 0.3])
    half = 4.302652729911275 * 0.1 / np.sqrt(3)
    assert (mean, lo, hi) == pytest.approx((0.2, 0.2 - half, 0.2 + half))
    assert t_interval([-0.5]) == (-0.5, None, None)
    assert t_interval([]) == (None, None, None)


def test_classification_accuracy_score_pairs_seeds() -> None:
    syn = {0: 0.4, 1: 0.5, 2: 0.6, 3: None}
    real = {0: 0.8, 1: 0.8, 2: 0.8, 3: 0.7, 4: 0.9}
    cas = classification_accuracy_score(syn, real)
    # per-seed ratios 0.5, 0.625, 0.75: mean 0.625, sd 0.125
    half = 4.302652729911275 * 0.125 / np.sqrt(3)
    assert cas["cas"] == pytest.approx(0.625) and cas["values"] == pytest.approx([0.5, 0.625, 0.75])
    assert cas["ci_low"] == pytest.approx(0.625 - half) and cas["ci_high"] == pytest.approx(
        0.625 + half
    )
    assert cas["n_pairs"] == 3 and cas["seeds"] == [0, 1, 2]
    assert cas["cas_of_means"] == pytest.approx(0.5 / 0.8)  # mean(0.4..0.6) / mean(0.7..0.9)


def test_classification_accuracy_score_without_shared_seeds_or_values() -> None:
    cas = classification_accuracy_score({0: 0.3}, {1: 0.6})
    assert cas["cas"] == pytest.approx(0.5) and cas["ci_low"] is None and cas["n_pairs"] == 0
    one = classification_accuracy_score({0: 0.3}, {0: 0.6})
    assert one["cas"] == pytest.approx(0.5) and one["ci_high"] is None
    with pytest.raises(ValueError, match="at least one"):
        classification_accuracy_score({0: None}, {0: 0.6})
    with pytest.raises(ValueError, match="undefined"):
        classification_accuracy_score({0: 0.3}, {0: 0.0})
