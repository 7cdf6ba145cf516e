"""The verdict's statistics, against hand-computed and library values and constructed designs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lesiongan.experiments.stats import (
    endpoint_keys,
    hierarchical_differences,
    holm,
    run_metric_rows,
    verdict_calls,
    weighted_auc,
)

CLASSES = ["melanoma", "seborrheic_keratosis", "nevus"]


def test_weighted_auc_equals_sklearn_with_sample_weights_and_ties() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 60) / 4  # many ties
    pos = rng.random(60) < 0.3
    w = np.vstack([np.ones(60), rng.integers(0, 3, 60).astype(float)])
    got = weighted_auc(scores, pos, w)
    assert got[0] == pytest.approx(roc_auc_score(pos, scores))
    keep = w[1] > 0
    expected = roc_auc_score(pos[keep], scores[keep], sample_weight=w[1][keep])
    assert got[1] == pytest.approx(expected)
    assert np.isnan(weighted_auc(scores, np.zeros(60, bool), w)).all()  # no positive


def _preds(y: np.ndarray, probs: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    return [f"img{i}" for i in range(y.size)], y, probs


def _probs(y: np.ndarray, skill: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities whose ranking improves with ``skill`` (0 = noise)."""
    logits = rng.normal(size=(y.size, 3)) + skill * np.eye(3)[y]
    e = np.exp(logits)
    return e / e.sum(1, keepdims=True)


def test_metric_rows_of_the_observed_set_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 90)
    probs = _probs(y, 1.0, rng)
    rows = run_metric_rows(y, probs, np.ones((1, 90)), CLASSES)
    assert rows["melanoma_auc"][0] == pytest.approx(roc_auc_score(y == 0, probs[:, 0]))
    assert rows["keratosis_auc"][0] == pytest.approx(roc_auc_score(y == 1, probs[:, 1]))
    aucs = [roc_auc_score(y == i, probs[:, i]) for i in range(3)]
    assert rows["macro_auc"][0] == pytest.approx(np.mean(aucs))
    pred = probs.argmax(1)
    sens = [np.mean(pred[y == i] == i) for i in range(3)]
    assert rows["balanced_accuracy"][0] == pytest.approx(np.mean(sens))
    assert rows["specificity_nevus"][0] == pytest.approx(np.mean(pred[y != 2] != 2))


def test_an_identical_strategy_is_equivalent_and_a_better_one_is_better() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 300)
    ref = {s: _preds(y, _probs(y, 1.0, rng)) for s in range(5)}
    same = {("", s): ref[s] for s in range(5)}
    d = hierarchical_differences(ref, same, CLASSES, n_boot=400, margin=0.02)
    assert d["melanoma_auc"]["diff"] == 0 and d["melanoma_auc"]["ci_low"] == 0
    assert d["melanoma_auc"]["p_tost"] < 0.05
    better = {("", s): _preds(y, _probs(y, 3.0, rng)) for s in range(5)}
    b = hierarchical_differences(ref, better, CLASSES, n_boot=400)
    assert b["macro_auc"]["diff"] > 0.1 and b["macro_auc"]["ci_low"] > 0
    assert b["macro_auc"]["p_two_sided"] < 0.01 and b["macro_auc"]["n_generators"] == 1
    calls = verdict_calls({"same": d, "better": b}, ["macro_auc"])
    assert calls["better"]["macro_auc"]["call"] == "better"
    assert calls["same"]["macro_auc"]["call"] == "equivalent"
    assert set(endpoint_keys(CLASSES)[:3]) == {"melanoma_auc", "keratosis_auc", "macro_auc"}


def test_generators_are_a_level_of_the_bootstrap() -> None:
    """Two generators with opposite effects: the interval must cover both, not shrink as if
    the ten runs were ten independent seeds of one generator."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 400)
    ref = {s: _preds(y, _probs(y, 1.5, rng)) for s in range(5)}
    good = {s: _preds(y, _probs(y, 2.5, rng)) for s in range(5)}
    bad = {s: _preds(y, _probs(y, 0.5, rng)) for s in range(5)}
    two = {**{("g0", s): good[s] for s in range(5)}, **{("g1", s): bad[s] for s in range(5)}}
    d = hierarchical_differences(ref, two, CLASSES, n_boot=600)["macro_auc"]
    only_good = hierarchical_differences(ref, {("g0", s): good[s] for s in range(5)}, CLASSES)
    assert d["n_generators"] == 2
    width = d["ci_high"] - d["ci_low"]
    assert width > 3 * (only_good["macro_auc"]["ci_high"] - only_good["macro_auc"]["ci_low"])
    assert d["ci_low"] < 0 < d["ci_high"]  # one good and one bad generator: no claim


def test_a_design_that_is_not_crossed_or_not_paired_is_refused() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 50)
    ref = {s: _preds(y, _probs(y, 1.0, rng)) for s in range(2)}
    with pytest.raises(ValueError, match="not crossed"):
        hierarchical_differences(
            ref, {("g0", 0): ref[0], ("g0", 1): ref[1], ("g1", 0): ref[0]}, CLASSES
        )
    other = {("", 0): _preds(np.roll(y, 1), ref[0][2]), ("", 1): ref[1]}
    with pytest.raises(ValueError, match="different images"):
        hierarchical_differences(ref, other, CLASSES)


def test_holm_against_a_hand_computed_family() -> None:
    # sorted 0.01, 0.02, 0.04 x (3, 2, 1) = 0.03, 0.04, 0.04 (monotone)
    adj = holm({"a": 0.04, "b": 0.01, "c": 0.02, "d": None})
    assert adj == {
        "a": pytest.approx(0.04),
        "b": pytest.approx(0.03),
        "c": pytest.approx(0.04),
        "d": None,
    }


def _argmax_run(y: np.ndarray, pred: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    probs = np.full((y.size, 3), 0.1)
    probs[np.arange(y.size), pred] = 0.8
    return [f"id{i}" for i in range(y.size)], y, probs


def _noisy(rng: np.random.Generator, y: np.ndarray, hit_rate: float) -> np.ndarray:
    """Predictions right with probability ``hit_rate``, else the majority class 2."""
    return np.where(rng.random(y.size) < hit_rate, y, 2)


def test_one_lucky_seed_is_not_a_verdict() -> None:
    """5 seeds: the strategy predicts exactly as the reference on 4 and far better on 1. The
    test images alone would make that certain; with the seeds resampled it is not."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [100, 100, 200])
    base = [_noisy(rng, y, 0.5) for _ in range(5)]
    other = [*base[:4], _noisy(rng, y, 0.95)]
    d = hierarchical_differences(
        {s: _argmax_run(y, p) for s, p in enumerate(base)},
        {("", s): _argmax_run(y, p) for s, p in enumerate(other)},
        CLASSES,
        n_boot=2000,
        seed=3,
    )["sensitivity_melanoma"]
    lucky = (other[4][y == 0] == 0).mean() - (base[4][y == 0] == 0).mean()
    assert lucky > 0.3 and d["diff"] == pytest.approx(lucky / 5)
    assert d["ci_low"] <= 0  # seeds and images: not significant
    # the resamples without the lucky seed have a difference of exactly 0: (4/5)^5 of them
    assert d["p_not_better"] == pytest.approx(0.8**5, abs=0.03)
    # Student t over the per-seed differences [0, 0, 0, 0, x]: sd = x / sqrt(5)
    half = 2.7764451051977987 * (lucky / np.sqrt(5)) / np.sqrt(5)
    assert d["t_ci_low"] == pytest.approx(lucky / 5 - half)
    assert d["t_ci_high"] == pytest.approx(lucky / 5 + half)
    assert d["n_seeds"] == 5 and d["seeds"] == [0, 1, 2, 3, 4]


def test_the_hierarchical_bootstrap_matches_a_plain_loop() -> None:
    """The vectorized resamples equal the definition, written as a loop with the same draws:
    test images, then classifier seeds, then generators, each with replacement."""
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], [6, 5, 9])
    n_boot, n, n_seeds, n_gens = 60, y.size, 3, 2
    base = [_noisy(rng, y, 0.4) for _ in range(n_seeds)]
    other = [[_noisy(rng, y, 0.7) for _ in range(n_seeds)] for _ in range(n_gens)]
    d = hierarchical_differences(
        {s: _argmax_run(y, base[s]) for s in range(n_seeds)},
        {(f"g{g}", s): _argmax_run(y, other[g][s]) for g in range(n_gens) for s in range(n_seeds)},
        CLASSES,
        n_boot=n_boot,
        seed=7,
    )["balanced_accuracy"]

    def ba(yy: np.ndarray, pp: np.ndarray) -> float:
        return float(np.mean([(pp[yy == c] == c).mean() for c in range(3) if (yy == c).any()]))

    draws = np.random.default_rng(7)
    images = draws.integers(0, n, size=(n_boot, n))
    seeds = draws.integers(0, n_seeds, size=(n_boot, n_seeds))
    gens = draws.integers(0, n_gens, size=(n_boot, n_gens))
    reps = []
    for b in range(n_boot):
        yy, im = y[images[b]], images[b]
        reps.append(
            np.mean(
                [ba(yy, other[g][s][im]) - ba(yy, base[s][im]) for g in gens[b] for s in seeds[b]]
            )
        )
    assert d["ci_low"] == pytest.approx(np.percentile(reps, 2.5))
    assert d["ci_high"] == pytest.approx(np.percentile(reps, 97.5))
    assert d["p_not_better"] == pytest.approx(np.mean(np.asarray(reps) <= 0))
    point = [ba(y, other[g][s]) - ba(y, base[s]) for g in range(n_gens) for s in range(n_seeds)]
    assert d["diff"] == pytest.approx(np.mean(point))


def test_differences_are_reproducible_with_a_seed() -> None:
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1, 2], [20, 20, 40])
    ref = {s: _argmax_run(y, _noisy(rng, y, 0.5)) for s in range(3)}
    other = {("", s): _argmax_run(y, _noisy(rng, y, 0.6)) for s in range(3)}
    a = hierarchical_differences(ref, other, CLASSES, n_boot=300, seed=5)
    assert a == hierarchical_differences(ref, other, CLASSES, n_boot=300, seed=5)
    b = hierarchical_differences(ref, other, CLASSES, n_boot=300, seed=6)
    assert a["balanced_accuracy"]["diff"] == b["balanced_accuracy"]["diff"]
    assert a["balanced_accuracy"]["ci_low"] != b["balanced_accuracy"]["ci_low"]


def test_a_class_absent_from_the_test_split_has_no_difference() -> None:
    y = np.array([0, 0, 2, 2, 2])  # no keratosis
    d = hierarchical_differences(
        {0: _argmax_run(y, y)}, {("", 0): _argmax_run(y, np.full(5, 2))}, CLASSES, n_boot=100
    )
    assert d["sensitivity_seborrheic_keratosis"]["diff"] is None
    assert d["keratosis_auc"]["diff"] is None
    assert d["sensitivity_melanoma"]["diff"] == -1.0
    assert d["sensitivity_melanoma"]["t_ci_low"] is None  # one seed: no t-interval
