"""Intervals over seeds and paired bootstrap differences, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from lesiongan.experiments.aggregate import paired_differences, seed_interval, summarize

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


def _run(y: np.ndarray, pred: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    probs = np.full((y.size, 3), 0.1)
    probs[np.arange(y.size), pred] = 0.8
    return [f"id{i}" for i in range(y.size)], y, probs


def test_identical_predictions_differ_by_exactly_zero() -> None:
    y = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    pred = np.array([0, 2, 1, 2, 2, 2, 0, 2])
    base = {0: _run(y, pred), 1: _run(y, pred)}
    d = paired_differences(base, base, CLASSES, n_boot=200)
    assert d["balanced_accuracy"]["diff"] == 0.0
    assert d["balanced_accuracy"]["ci_low"] == 0.0 == d["balanced_accuracy"]["ci_high"]
    assert d["balanced_accuracy"]["p_not_better"] == 1.0


def test_a_better_strategy_shows_a_positive_difference() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [30, 30, 60])
    base_pred = np.where(rng.random(y.size) < 0.5, y, 2)  # misses half of the minority cases
    better_pred = np.where(rng.random(y.size) < 0.9, y, 2)
    base = {s: _run(y, base_pred) for s in (0, 1)}
    other = {s: _run(y, better_pred) for s in (0, 1)}
    d = paired_differences(base, other, CLASSES, n_boot=500, seed=1)
    mel = d["sensitivity_melanoma"]
    expected = (better_pred[y == 0] == 0).mean() - (base_pred[y == 0] == 0).mean()
    assert mel["diff"] == pytest.approx(expected)
    assert mel["ci_low"] > 0 and mel["p_not_better"] < 0.01
    assert d["balanced_accuracy"]["diff"] > 0


def test_runs_on_different_test_images_cannot_be_paired() -> None:
    y = np.array([0, 1, 2])
    a = {0: _run(y, y)}
    _, _, probs = _run(y, y)
    b = {0: (["x", "y", "z"], y, probs)}
    with pytest.raises(ValueError, match="different images"):
        paired_differences(a, b, CLASSES)
