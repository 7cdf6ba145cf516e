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
