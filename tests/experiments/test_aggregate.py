"""Intervals over seeds and paired bootstrap differences, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from lesiongan.experiments.aggregate import (
    classification_accuracy_score,
    compare_strategies,
    paired_differences,
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


def _seeded_runs(y: np.ndarray, preds: list[np.ndarray]) -> dict[int, tuple]:
    return {s: _run(y, p) for s, p in enumerate(preds)}


def _noisy(rng: np.random.Generator, y: np.ndarray, hit_rate: float) -> np.ndarray:
    """Predictions right with probability ``hit_rate``, else the majority class 2."""
    return np.where(rng.random(y.size) < hit_rate, y, 2)


def test_one_lucky_seed_is_not_a_verdict() -> None:
    # 5 seeds: the strategy predicts exactly as the baseline on 4 and far better on 1
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [100, 100, 200])
    base_preds = [_noisy(rng, y, 0.5) for _ in range(5)]
    other_preds = [*base_preds[:4], _noisy(rng, y, 0.95)]
    d = paired_differences(
        _seeded_runs(y, base_preds), _seeded_runs(y, other_preds), CLASSES, n_boot=2000, seed=3
    )["sensitivity_melanoma"]
    lucky = (other_preds[4][y == 0] == 0).mean() - (base_preds[4][y == 0] == 0).mean()
    assert d["diff"] == pytest.approx(lucky / 5)
    assert d["img_ci_low"] > 0 and d["img_p_not_better"] == 0.0  # images only: "certain"
    assert d["ci_low"] <= 0  # seeds and images: not significant
    # the resamples without the lucky seed have a difference of exactly 0: (4/5)^5 of them
    assert d["p_not_better"] == pytest.approx(0.8**5, abs=0.03)
    # Student t over the per-seed differences [0, 0, 0, 0, x]: sd = x / sqrt(5)
    half = 2.7764451051977987 * (lucky / np.sqrt(5)) / np.sqrt(5)
    assert d["t_ci_low"] == pytest.approx(lucky / 5 - half)
    assert d["t_ci_high"] == pytest.approx(lucky / 5 + half)
    assert d["n_seeds"] == 5 and d["seeds"] == [0, 1, 2, 3, 4]


def test_a_consistent_difference_is_a_verdict() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], [100, 100, 200])
    base = _seeded_runs(y, [_noisy(rng, y, 0.5) for _ in range(5)])
    other = _seeded_runs(y, [_noisy(rng, y, 0.8) for _ in range(5)])
    d = paired_differences(base, other, CLASSES, n_boot=1000, seed=0)
    for key in ("balanced_accuracy", "sensitivity_melanoma", "sensitivity_seborrheic_keratosis"):
        assert d[key]["ci_low"] > 0 and d[key]["t_ci_low"] > 0, key
        assert d[key]["p_not_better"] < 0.01
        # both sources of chance: at least as wide as the images-only interval, roughly
        width = d[key]["ci_high"] - d[key]["ci_low"]
        assert width >= 0.9 * (d[key]["img_ci_high"] - d[key]["img_ci_low"])
    # the reverse comparison: the reference can be any strategy
    r = paired_differences(other, base, CLASSES, n_boot=1000, seed=0)["balanced_accuracy"]
    assert r["diff"] == pytest.approx(-d["balanced_accuracy"]["diff"])
    assert r["ci_high"] < 0 and r["p_not_better"] == 1.0


def test_two_level_bootstrap_matches_a_plain_loop() -> None:
    """The vectorized resamples equal the definition, written as a loop with the same draws."""
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], [6, 5, 9])
    base_preds = [_noisy(rng, y, 0.4) for _ in range(3)]
    other_preds = [_noisy(rng, y, 0.7) for _ in range(3)]
    n_boot, n, seeds = 50, y.size, 3
    d = paired_differences(
        _seeded_runs(y, base_preds), _seeded_runs(y, other_preds), CLASSES, n_boot=n_boot, seed=7
    )

    def ba(yy: np.ndarray, pp: np.ndarray) -> float:
        return float(np.mean([(pp[yy == c] == c).mean() for c in range(3) if (yy == c).any()]))

    draws = np.random.default_rng(7)
    images = draws.integers(0, n, size=(n_boot, n))
    picked = draws.integers(0, seeds, size=(n_boot, seeds))
    two, img = [], []
    for b in range(n_boot):
        yy = y[images[b]]
        per_seed = [
            ba(yy, other_preds[s][images[b]]) - ba(yy, base_preds[s][images[b]])
            for s in range(seeds)
        ]
        img.append(np.mean(per_seed))
        two.append(np.mean([per_seed[s] for s in picked[b]]))
    got = d["balanced_accuracy"]
    assert got["ci_low"] == pytest.approx(np.percentile(two, 2.5))
    assert got["ci_high"] == pytest.approx(np.percentile(two, 97.5))
    assert got["p_not_better"] == pytest.approx(np.mean(np.asarray(two) <= 0))
    assert got["img_ci_low"] == pytest.approx(np.percentile(img, 2.5))
    assert got["img_ci_high"] == pytest.approx(np.percentile(img, 97.5))
    point = [ba(y, o) - ba(y, b) for b, o in zip(base_preds, other_preds)]
    assert got["diff"] == pytest.approx(np.mean(point))


def test_paired_differences_are_reproducible_with_a_seed() -> None:
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1, 2], [20, 20, 40])
    base = _seeded_runs(y, [_noisy(rng, y, 0.5) for _ in range(3)])
    other = _seeded_runs(y, [_noisy(rng, y, 0.6) for _ in range(3)])
    a = paired_differences(base, other, CLASSES, n_boot=300, seed=5)
    assert a == paired_differences(base, other, CLASSES, n_boot=300, seed=5)
    b = paired_differences(base, other, CLASSES, n_boot=300, seed=6)
    assert a["balanced_accuracy"]["diff"] == b["balanced_accuracy"]["diff"]
    assert a["balanced_accuracy"]["ci_low"] != b["balanced_accuracy"]["ci_low"]


def test_a_class_absent_from_the_test_split_has_no_difference() -> None:
    y = np.array([0, 0, 2, 2, 2])  # no keratosis
    d = paired_differences({0: _run(y, y)}, {0: _run(y, np.full(5, 2))}, CLASSES, n_boot=100)
    assert d["sensitivity_seborrheic_keratosis"]["diff"] is None
    assert d["sensitivity_seborrheic_keratosis"]["ci_low"] is None
    assert d["sensitivity_melanoma"]["diff"] == -1.0
    assert d["sensitivity_melanoma"]["t_ci_low"] is None  # one seed: no t-interval


def test_compare_strategies_against_any_reference() -> None:
    rng = np.random.default_rng(5)
    y = np.repeat([0, 1, 2], [20, 20, 40])
    preds = {
        name: _seeded_runs(y, [_noisy(rng, y, rate) for _ in range(2)])
        for name, rate in (("none", 0.4), ("oversample", 0.6), ("synthetic-balance", 0.8))
    }
    out = compare_strategies(preds, "oversample", CLASSES, n_boot=200, seed=1)
    assert sorted(out) == ["none", "synthetic-balance"]
    direct = paired_differences(preds["oversample"], preds["none"], CLASSES, n_boot=200, seed=1)
    assert out["none"] == direct
    with pytest.raises(ValueError, match="reference strategy 'cased'"):
        compare_strategies(preds, "cased", CLASSES)


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
