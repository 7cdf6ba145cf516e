"""Results: statistics pinned against hand-computed and textbook values; files and plots."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import binomtest
from turing_helpers import make_study

from lesiongan.errors import DataError, LesionganError, OutputExistsError
from lesiongan.turing import db
from lesiongan.turing.results import (
    compute_binary_stats,
    compute_fleiss_kappa,
    compute_results,
    run_results,
)

# Fleiss (1971) as reproduced in Wikipedia's "Fleiss' kappa" article: 10 subjects, 14 raters,
# 5 categories; P-bar = 0.378, P_e = 0.213, kappa = 0.210.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_textbook_example() -> None:
    assert compute_fleiss_kappa(np.array(FLEISS_TABLE)) == pytest.approx(0.20993, abs=1e-5)


def test_fleiss_kappa_edge_cases() -> None:
    assert compute_fleiss_kappa(np.array([[3, 0], [0, 3], [3, 0]])) == pytest.approx(1.0)
    # raters split evenly on every item: agreement below chance
    assert compute_fleiss_kappa(np.array([[1, 1], [1, 1]])) == pytest.approx(-1.0)
    assert math.isnan(compute_fleiss_kappa(np.array([[3, 0], [3, 0]])))  # one category only
    assert math.isnan(compute_fleiss_kappa(np.array([[1, 0], [0, 1]])))  # one rating per item
    # items with a single rating are left out, the rest is Fleiss as usual
    with_single = np.array([*FLEISS_TABLE, [1, 0, 0, 0, 0]])
    assert compute_fleiss_kappa(with_single) == pytest.approx(0.20993, abs=1e-5)
    # unequal numbers of ratings (by hand): P_i = 1, 0, 1; p = (6/7, 1/7); kappa = -13/36
    assert compute_fleiss_kappa(np.array([[2, 0], [1, 1], [3, 0]])) == pytest.approx(-13 / 36)


def _answer(rater, pid, source, answer, conf=3, label="melanoma", diagnosis=None):
    return {
        "rater": rater,
        "public_id": pid,
        "source": source,
        "label": label,
        "origin_id": pid,
        "answer": answer,
        "confidence": conf,
        "diagnosis": diagnosis,
    }


def test_binary_stats_by_hand() -> None:
    # 3 synthetic (2 spotted), 2 real (1 called real): accuracy 3/5
    answers = [
        _answer("a", "s1", "synthetic", "synthetic"),
        _answer("a", "s2", "synthetic", "synthetic"),
        _answer("a", "s3", "synthetic", "real"),
        _answer("a", "r1", "real", "real"),
        _answer("a", "r2", "real", "synthetic"),
    ]
    s = compute_binary_stats(answers)
    assert s["accuracy"] == pytest.approx(0.6)
    assert s["sensitivity"] == pytest.approx(2 / 3) and s["specificity"] == pytest.approx(0.5)
    assert s["binomial_p"] == pytest.approx(binomtest(3, 5, 0.5).pvalue) == pytest.approx(1.0)
    assert s["accuracy_ci_low"] < 0.6 < s["accuracy_ci_high"]


def test_perfect_rater_beats_chance_and_fool_rates() -> None:
    items = [
        {
            "public_id": f"s{k}",
            "source": "synthetic",
            "label": "nevus",
            "origin_id": "",
            "origin_path": "",
        }
        for k in range(10)
    ]
    items += [{**i, "public_id": f"r{k}", "source": "real"} for k, i in enumerate(items)]
    answers = [
        _answer(
            r,
            i["public_id"],
            i["source"],
            i["source"] if r == "ace" else "real",
            conf=5 if r == "ace" else 1,
            label="nevus",
            diagnosis="nevus",
        )
        for r in ("ace", "naive")
        for i in items
    ]
    res = compute_results(answers, items, ["ace", "naive", "absent"])
    s = res["summary"]
    assert s["accuracy_rater_ace"] == 1.0 and s["binomial_p_rater_ace"] == pytest.approx(2**-19)
    assert s["accuracy_rater_naive"] == 0.5 and s["sensitivity_rater_naive"] == 0.0
    assert s["specificity_rater_naive"] == 1.0 and s["n_answers_rater_absent"] == 0
    assert s["n_raters"] == 2 and s["n_answers"] == 40 and s["accuracy"] == 0.75
    assert s["fool_rate_synthetic_mean"] == 0.5 and s["fool_rate_real_mean"] == 0.0
    assert s["accuracy_confidence_5"] == 1.0 and s["accuracy_confidence_1"] == 0.5
    assert s["n_answers_confidence_3"] == 0 and s["accuracy_confidence_3"] is None
    assert s["accuracy_nevus"] == 0.75 and s["diagnosis_accuracy_synthetic"] == 1.0
    # both raters agree on the 10 real images (real), disagree on the 10 synthetic ones
    expected = compute_fleiss_kappa(np.array([[2, 0]] * 10 + [[1, 1]] * 10))
    assert s["fleiss_kappa"] == pytest.approx(expected) and s["fleiss_kappa_n_items"] == 20
    assert all(isinstance(k, str) and k == k.lower() for k in s)  # flat snake_case keys
    assert all(not isinstance(v, dict | list) for v in s.values())


def _answer_all(db_path: Path, rule) -> None:
    conn = db.open_study(db_path)
    for r in db.raters(conn):
        for item in db.load_items(conn):
            answer, conf = rule(r.name, item)
            assert db.record_answer(conn, r.id, item["public_id"], answer, conf, None)


def test_run_results_writes_tables_json_and_plots(tmp_path: Path) -> None:
    db_path, info = make_study(tmp_path, n_per_class=3, raters=["alice", "bob"])
    with pytest.raises(DataError, match="no answers recorded yet"):
        run_results(db_path, tmp_path / "res")
    # alice is perfect; bob calls everything real
    _answer_all(db_path, lambda name, i: (i["source"] if name == "alice" else "real", 4))
    summary = run_results(db_path, tmp_path / "res")
    out = tmp_path / "res"
    assert json.loads((out / "results.json").read_text()) == summary
    assert summary["accuracy_rater_alice"] == 1.0 and summary["accuracy_rater_bob"] == 0.5
    assert summary["sensitivity"] == 0.5 and summary["specificity"] == 1.0
    with open(out / "results.csv") as f:
        rows = {r["rater"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"alice", "bob", "all"} and float(rows["all"]["accuracy"]) == 0.75
    with open(out / "per_image.csv") as f:
        per_image = list(csv.DictReader(f))
    assert len(per_image) == info.n_items
    assert {float(r["fool_rate"]) for r in per_image if r["source"] == "synthetic"} == {0.5}
    for name in ("accuracy_per_rater", "accuracy_by_confidence", "fool_rate"):
        with Image.open(out / f"{name}.png") as im:
            assert im.size[0] > 200
    assert (out / "answers.csv").read_text().count("\n") == 1 + 2 * info.n_items
    assert "admin_token" not in (out / "study.json").read_text()
    with pytest.raises(OutputExistsError):
        run_results(db_path, out)
    run_results(db_path, out, force=True)


def test_results_never_replace_the_directory_holding_the_study(tmp_path: Path) -> None:
    db_path, _ = make_study(tmp_path / "study", raters=["a"])
    _answer_all(db_path, lambda name, i: ("real", 3))
    with pytest.raises(LesionganError, match="overlaps the input"):
        run_results(db_path, db_path.parent, force=True)
    assert db_path.is_file()


def test_app_plot_names_match_the_plots() -> None:
    from lesiongan.turing.app import PLOT_NAMES
    from lesiongan.turing.plots import PLOTS

    assert tuple(PLOTS) == PLOT_NAMES
