"""Classifier metrics: hand-computed values, undefined cases, bootstrap intervals, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import balanced_accuracy_score

from lesiongan.classify import metrics as M
from lesiongan.classify.metrics import (
    bootstrap_metrics,
    compute_confusion,
    compute_metrics,
    metrics_with_ci,
)

CLASSES = ["melanoma", "seborrheic_keratosis", "nevus"]

# Tiny example: 8 images, columns (melanoma, seborrheic_keratosis, nevus).
#  i  true  probs             argmax
#  0  0     .7  .2  .1        0
#  1  0     .4  .1  .5        2
#  2  1     .2  .6  .2        1
#  3  1     .5  .3  .2        0
#  4  2     .1  .1  .8        2
#  5  2     .3  .1  .6        2
#  6  2     .6  .2  .2        0
#  7  2     .2  .3  .5        2
Y_TINY = np.array([0, 0, 1, 1, 2, 2, 2, 2])
P_TINY = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.4, 0.1, 0.5],
        [0.2, 0.6, 0.2],
        [0.5, 0.3, 0.2],
        [0.1, 0.1, 0.8],
        [0.3, 0.1, 0.6],
        [0.6, 0.2, 0.2],
        [0.2, 0.3, 0.5],
    ]
)


def synthetic_scores(n: int, seed: int, signal: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """ISIC-2017-like class mix with softmax outputs that carry some signal."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.187, 0.127, 0.686])
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), y] += signal
    probs = np.exp(logits)
    return y, probs / probs.sum(axis=1, keepdims=True)


def test_confusion_tiny() -> None:
    # rows = true, cols = predicted (from the argmax column above)
    conf = compute_confusion(Y_TINY, P_TINY.argmax(axis=1), 3)
    np.testing.assert_array_equal(conf, [[1, 0, 1], [1, 1, 0], [1, 0, 3]])


def test_hand_computed_tiny() -> None:
    m = compute_metrics(Y_TINY, P_TINY, CLASSES)
    # accuracy: diagonal 1 + 1 + 3 = 5 of 8
    assert m["accuracy"] == pytest.approx(5 / 8)
    # sensitivity = diagonal / row sum: melanoma 1/2, keratosis 1/2, nevus 3/4
    assert m["sensitivity_melanoma"] == pytest.approx(1 / 2)
    assert m["sensitivity_seborrheic_keratosis"] == pytest.approx(1 / 2)
    assert m["sensitivity_nevus"] == pytest.approx(3 / 4)
    # balanced accuracy = (1/2 + 1/2 + 3/4) / 3 = 7/12
    assert m["balanced_accuracy"] == pytest.approx(7 / 12)
    # specificity = TN / negatives.
    #   melanoma: 6 negatives, images 3 and 6 predicted melanoma -> 4/6
    #   keratosis: 6 negatives, none predicted keratosis -> 6/6
    #   nevus: 4 negatives, image 1 predicted nevus -> 3/4
    assert m["specificity_melanoma"] == pytest.approx(4 / 6)
    assert m["specificity_seborrheic_keratosis"] == pytest.approx(1.0)
    assert m["specificity_nevus"] == pytest.approx(3 / 4)
    # AUC = P(positive score > negative score), ties count 1/2.
    #   melanoma: positives .7, .4; negatives .2 .5 .1 .3 .6 .2
    #     .7 beats 6; .4 beats .2 .1 .3 .2 = 4  -> 10/12
    assert m["auc_melanoma"] == pytest.approx(10 / 12)
    #   keratosis: positives .6, .3; negatives .2 .1 .1 .1 .2 .3
    #     .6 beats 6; .3 beats 5 and ties 1 -> 5.5  -> 11.5/12
    assert m["auc_seborrheic_keratosis"] == pytest.approx(11.5 / 12)
    #   nevus: positives .8 .6 .2 .5; negatives .1 .5 .2 .2
    #     .8 -> 4; .6 -> 4; .2 beats .1, ties two -> 2; .5 beats 3, ties 1 -> 3.5  -> 13.5/16
    assert m["auc_nevus"] == pytest.approx(13.5 / 16)
    assert m["macro_auc"] == pytest.approx((10 / 12 + 11.5 / 12 + 13.5 / 16) / 3)
    # ISIC 2017 aliases repeat the per-class AUCs
    assert m["melanoma_auc"] == m["auc_melanoma"]
    assert m["keratosis_auc"] == m["auc_seborrheic_keratosis"]


def test_argmax_ties_go_to_lower_index() -> None:
    probs = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [0.5, 0.0, 0.5]])
    m = metrics_with_ci(np.array([0, 1, 2]), probs, CLASSES, n_boot=10)
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [1, 0, 0]]


def test_perfect_predictions_give_one_everywhere() -> None:
    y = np.array([0, 1, 2, 0, 1, 2, 2])
    probs = np.eye(3)[y] * 0.9 + 0.1 / 3
    m = compute_metrics(y, probs, CLASSES)
    assert set(m.values()) == {1.0}


def test_constant_predictor_has_auc_one_half() -> None:
    y, _ = synthetic_scores(50, seed=0)
    probs = np.full((50, 3), 1 / 3)
    m = compute_metrics(y, probs, CLASSES)
    for name in CLASSES:
        assert m[f"auc_{name}"] == pytest.approx(0.5)
    assert m["macro_auc"] == pytest.approx(0.5)
    # every image is predicted class 0
    assert m["sensitivity_melanoma"] == 1.0
    assert m["sensitivity_nevus"] == 0.0
    assert m["balanced_accuracy"] == pytest.approx(1 / 3)


def test_absent_class_is_none_and_skipped_in_macro_averages() -> None:
    keep = Y_TINY != 1  # drop every seborrheic keratosis
    m = compute_metrics(Y_TINY[keep], P_TINY[keep], CLASSES)
    assert m["sensitivity_seborrheic_keratosis"] is None
    assert m["auc_seborrheic_keratosis"] is None
    assert m["keratosis_auc"] is None
    # still defined: no image was predicted keratosis -> 6/6
    assert m["specificity_seborrheic_keratosis"] == 1.0
    assert m["balanced_accuracy"] == pytest.approx((m["sensitivity_melanoma"] + 3 / 4) / 2)
    assert m["macro_auc"] == pytest.approx((m["auc_melanoma"] + m["auc_nevus"]) / 2)
    assert not any(isinstance(v, float) and np.isnan(v) for v in m.values())


def test_single_class_present() -> None:
    y = np.zeros(4, dtype=int)
    m = metrics_with_ci(y, P_TINY[:4], CLASSES, n_boot=50)
    assert m["balanced_accuracy"] == pytest.approx(2 / 4)  # only images 0 and 3 predicted 0
    assert m["specificity_melanoma"] is None  # no negatives
    assert all(m[f"auc_{c}"] is None for c in CLASSES)
    assert m["macro_auc"] is None
    assert m["macro_auc_ci_low"] is None and m["macro_auc_ci_high"] is None
    json.dumps(m, allow_nan=False)


def test_aliases_only_for_isic_class_names() -> None:
    m = compute_metrics(Y_TINY, P_TINY, ["a", "b", "c"])
    assert "melanoma_auc" not in m and "keratosis_auc" not in m
    assert m["auc_a"] == pytest.approx(10 / 12)


def test_metrics_with_ci_layout_and_json() -> None:
    y, probs = synthetic_scores(200, seed=1)
    m = metrics_with_ci(y, probs, CLASSES, n_boot=200, seed=3)
    point = compute_metrics(y, probs, CLASSES)
    for key, value in point.items():
        assert m[key] == value
        assert m[f"{key}_ci_low"] <= value <= m[f"{key}_ci_high"], key
    assert np.array(m["confusion_matrix"]).sum() == 200
    assert m["n_test"] == 200
    assert m["bootstrap_resamples"] == 200
    assert m["bootstrap_seed"] == 3
    assert m["ci_level"] == 0.95
    text = json.dumps(m, allow_nan=False)
    assert json.loads(text) == m


def test_ci_narrows_as_n_grows() -> None:
    keys = ["accuracy", "balanced_accuracy", "macro_auc", "auc_melanoma"]
    widths = {}
    for n in (100, 1600):
        y, probs = synthetic_scores(n, seed=2)
        ci = bootstrap_metrics(y, probs, CLASSES, n_boot=300, seed=0)
        widths[n] = {k: ci[f"{k}_ci_high"] - ci[f"{k}_ci_low"] for k in keys}
    for k in keys:
        assert widths[1600][k] < 0.6 * widths[100][k], k  # ~1/4 expected for 16x the data


def test_ci_level_widens_interval() -> None:
    y, probs = synthetic_scores(300, seed=4)
    narrow = bootstrap_metrics(y, probs, CLASSES, n_boot=300, level=0.5)
    wide = bootstrap_metrics(y, probs, CLASSES, n_boot=300, level=0.99)
    for key in ("accuracy", "macro_auc"):
        assert wide[f"{key}_ci_low"] < narrow[f"{key}_ci_low"]
        assert wide[f"{key}_ci_high"] > narrow[f"{key}_ci_high"]


def test_bootstrap_deterministic_by_seed() -> None:
    y, probs = synthetic_scores(150, seed=5)
    a = bootstrap_metrics(y, probs, CLASSES, n_boot=100, seed=7)
    b = bootstrap_metrics(y, probs, CLASSES, n_boot=100, seed=7)
    c = bootstrap_metrics(y, probs, CLASSES, n_boot=100, seed=8)
    assert a == b
    assert a != c


def test_bootstrap_skips_resamples_where_metric_undefined() -> None:
    # One keratosis image among 30: many resamples miss it, yet its interval is defined.
    y = np.array([1] + [0] * 14 + [2] * 15)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=30)
    ci = bootstrap_metrics(y, probs, CLASSES, n_boot=200)
    for key in ("sensitivity_seborrheic_keratosis", "auc_seborrheic_keratosis"):
        assert ci[f"{key}_ci_low"] is not None
        assert 0.0 <= ci[f"{key}_ci_low"] <= ci[f"{key}_ci_high"] <= 1.0
    assert not any(isinstance(v, float) and np.isnan(v) for v in ci.values())


@pytest.mark.parametrize(
    ("y", "probs", "classes", "match"),
    [
        (Y_TINY[:7], P_TINY, CLASSES, "number of images"),
        (Y_TINY, P_TINY[:, :2], CLASSES, r"shape \[N, 3\]"),
        (Y_TINY, P_TINY[0], CLASSES, r"shape \[N, 3\]"),
        (Y_TINY[:, None], P_TINY, CLASSES, "1-D"),
        (Y_TINY, P_TINY * 2, CLASSES, "sum to 1"),
        (Y_TINY, np.log(P_TINY), CLASSES, "non-negative"),
        (Y_TINY, np.where(P_TINY == 0.7, np.nan, P_TINY), CLASSES, "finite"),
        (Y_TINY + 1, P_TINY, CLASSES, "outside"),
        (Y_TINY - 1, P_TINY, CLASSES, "outside"),
        (Y_TINY.astype(float), P_TINY, CLASSES, "integer"),
        (np.array([], dtype=int), np.zeros((0, 3)), CLASSES, "empty"),
        (Y_TINY, P_TINY, ["a", "a", "b"], "unique"),
        (np.zeros(8, dtype=int), np.ones((8, 1)), ["a"], "at least 2"),
    ],
)
def test_input_validation(y, probs, classes, match) -> None:
    with pytest.raises(ValueError, match=match):
        compute_metrics(y, probs, classes)
    with pytest.raises(ValueError, match=match):
        bootstrap_metrics(y, probs, classes, n_boot=5)


def test_prob_sum_tolerance() -> None:
    compute_metrics(Y_TINY, P_TINY * (1 + 5e-4), CLASSES)  # within 1e-3: accepted
    with pytest.raises(ValueError, match="row 0"):
        compute_metrics(Y_TINY, np.vstack([P_TINY[0] * 1.01, P_TINY[1:]]), CLASSES)


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"n_boot": 0}, "n_boot"), ({"level": 1.0}, "level")]
)
def test_bootstrap_argument_validation(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        bootstrap_metrics(Y_TINY, P_TINY, CLASSES, **kwargs)


def test_confusion_validation() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        compute_confusion(np.array([0, 1]), np.array([0]), 2)
    with pytest.raises(ValueError, match="outside"):
        compute_confusion(np.array([0, 2]), np.array([0, 1]), 2)


@st.composite
def labelled_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n_classes = draw(st.integers(2, 4))
    n = draw(st.integers(1, 30))
    y = np.array(draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)))
    # small integer weights make argmax ties and tied AUC scores common
    raw = draw(st.lists(st.integers(1, 4), min_size=n * n_classes, max_size=n * n_classes))
    probs = np.array(raw, dtype=float).reshape(n, n_classes)
    return y, probs / probs.sum(axis=1, keepdims=True)


@settings(max_examples=150, deadline=None)
@given(labelled_scores())
def test_balanced_accuracy_property(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, probs = data
    classes = [f"c{i}" for i in range(probs.shape[1])]
    m = compute_metrics(y, probs, classes)
    assert 0.0 <= m["balanced_accuracy"] <= 1.0
    if len(np.unique(y)) == probs.shape[1]:
        expected = balanced_accuracy_score(y, probs.argmax(axis=1))
        assert m["balanced_accuracy"] == pytest.approx(expected)


@settings(max_examples=100, deadline=None)
@given(labelled_scores(), st.integers(0, 2**32 - 1))
def test_vectorized_resample_matches_expanded_data(
    data: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    # The bootstrap evaluates a resample as multiplicity weights; it must agree with
    # compute_metrics (scikit-learn) on the data with each image repeated that often.
    y, probs = data
    classes = [f"c{i}" for i in range(probs.shape[1])]
    weights = np.random.default_rng(seed).integers(0, 3, size=(3, y.shape[0])).astype(float)
    weights[:, 0] += 1  # a resample is never empty
    values = M._weighted_metric_arrays(y, probs, classes, weights)
    for b in range(weights.shape[0]):
        rep = np.repeat(np.arange(y.shape[0]), weights[b].astype(int))
        for key, expected in compute_metrics(y[rep], probs[rep], classes).items():
            got = values[key][b]
            if expected is None:
                assert np.isnan(got), key
            else:
                assert got == pytest.approx(expected), key


def test_compute_accuracies_equal_those_of_compute_metrics() -> None:
    from lesiongan.classify.metrics import compute_accuracies, compute_metrics

    rng = np.random.default_rng(3)
    for n in (5, 40):
        y = rng.integers(0, 3, n)
        probs = rng.dirichlet(np.ones(3), n)
        full = compute_metrics(y, probs, ["a", "b", "c"])
        fast = compute_accuracies(y, probs, ["a", "b", "c"])
        assert fast == {k: full[k] for k in ("balanced_accuracy", "accuracy")}
    y = np.array([0, 0, 1])  # class c absent: its sensitivity is undefined, as before
    probs = np.eye(3)[[0, 1, 1]]
    assert compute_accuracies(y, probs, ["a", "b", "c"]) == {
        k: compute_metrics(y, probs, ["a", "b", "c"])[k] for k in ("balanced_accuracy", "accuracy")
    }
