"""The verdict the docs quote, from a results.json: tables, the sentence, ``report --markdown``."""

from __future__ import annotations

import copy
from pathlib import Path

from variant_results import make_results, write_experiment

from lesiongan.experiments.verdict import (
    render_verdict_markdown,
    render_verdict_sentence,
    render_verdict_table,
)


def _rows(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()]


def test_table_rows_cells_and_order() -> None:
    r = make_results()
    strategies_table, variants_table = render_verdict_table(r).split("\n\n")
    rows = _rows(strategies_table)
    assert rows[0] == [
        "strategy",
        "balanced accuracy",
        "melanoma sensitivity",
        "keratosis sensitivity",
        "melanoma AUC",
        "Δ balanced accuracy vs oversample",
        "Δ melanoma sensitivity vs oversample",
    ]
    assert set(rows[1]) == {"---"}
    # real-only first, then each variant's strategies
    assert [row[0] for row in rows[2:]] == [
        "`none`",
        "`oversample`",
        "`synthetic-balance@all`",
        "`synthetic-only@all`",
        "`synthetic-balance@d-score`",
        "`synthetic-only@d-score`",
    ]
    m = r["summary"]["none"]["sensitivity_seborrheic_keratosis"]
    assert rows[2][3] == f"{m['mean']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
    assert rows[3][5:] == ["–", "–"]  # the reference itself
    assert rows[6][5] == "+0.041 [+0.012, +0.070]"  # planted in variant_results
    assert rows[5][5] == "-0.200 [-0.310, -0.090]"
    d = r["paired_vs_reference"]["none"]["sensitivity_melanoma"]
    assert rows[2][6] == f"{d['diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
    v = _rows(variants_table)
    assert v[0] == [
        "variant",
        "selection",
        "FID (floor)",
        "recall (floor)",
        "coverage (floor)",
        "CAS [95 % CI]",
    ]
    real = r["variants"]["all"]["realism"]
    cas = r["variants"]["all"]["cas"]
    assert v[2] == [
        "`all`",
        "none (all kept)",
        f"{real['fid']:.3f} ({real['fid_floor']:.3f})",
        f"{real['recall']:.3f} ({real['recall_floor']:.3f})",
        f"{real['coverage']:.3f} ({real['coverage_floor']:.3f})",
        f"{cas['cas']:.3f} [{cas['ci_low']:.3f}, {cas['ci_high']:.3f}]",
    ]
    assert (
        v[3][1] == "d-score, keep 0.5"
        and v[3][4] == f"{r['variants']['d-score']['realism']['coverage']:.3f}"
    )


def test_missing_values_show_a_dash() -> None:
    r = make_results()
    r["summary"]["none"]["melanoma_auc"] = {
        "n": 0,
        "values": [],
        "mean": None,
        "ci_low": None,
        "ci_high": None,
    }
    r["summary"]["none"]["balanced_accuracy"].update(ci_low=None, ci_high=None)  # one seed
    del r["variants"]["all"]["cas"]
    del r["variants"]["d-score"]["realism"]
    table = render_verdict_table(r)
    none = _rows(table.split("\n\n")[0])[2]
    assert none[4] == "–" and none[1] == f"{r['summary']['none']['balanced_accuracy']['mean']:.3f}"
    variants = _rows(table.split("\n\n")[1])
    assert variants[2][-1] == "–" and variants[3][2:5] == ["–", "–", "–"]
    del r["variants"]
    assert "\n\n" not in render_verdict_table(r)


def test_sentence_says_what_the_intervals_say() -> None:
    r = make_results()
    assert render_verdict_sentence(r) == (
        "Against the best real-only strategy, `oversample`, with paired 95 % intervals (seeds and "
        "test images resampled): on balanced accuracy, `synthetic-balance@d-score` "
        "(+0.041 [+0.012, +0.070]) beats it and the other one shows no significant difference; "
        "on melanoma sensitivity, no strategy that adds synthetic images beats it (both compared "
        "show no significant difference)."
    )
    worse = copy.deepcopy(r)
    d = worse["paired_vs_reference"]["synthetic-balance@all"]["sensitivity_melanoma"]
    d.update({"diff": -0.1, "ci_low": -0.2, "ci_high": -0.01})
    assert render_verdict_sentence(worse).endswith(
        "on melanoma sensitivity, no strategy that adds synthetic images beats it, "
        "`synthetic-balance@all` (-0.100 [-0.200, -0.010]) is worse and the other one shows no "
        "significant difference."
    )
    # an interval touching 0 is no difference; a missing interval is none either
    edge = copy.deepcopy(r)
    edge["paired_vs_reference"]["synthetic-balance@d-score"]["balanced_accuracy"]["ci_low"] = 0.0
    edge["paired_vs_reference"]["synthetic-balance@all"]["balanced_accuracy"]["ci_low"] = None
    assert "on balanced accuracy, no strategy that adds synthetic images beats it (both" in (
        render_verdict_sentence(edge)
    )
    # a reference chosen by the config, not the best: said so
    chosen = copy.deepcopy(r)
    chosen["summary"]["none"]["balanced_accuracy"]["mean"] = 0.99
    assert render_verdict_sentence(chosen).startswith(
        "Against the reference real-only strategy, `oversample`,"
    )


def test_without_reference_it_compares_with_none() -> None:
    r = make_results()
    for key in ("reference", "paired_vs_reference", "real_only_strategies", "variants"):
        del r[key]
    r["summary"]["none"]["balanced_accuracy"]["mean"] = 0.99
    table = render_verdict_table(r)
    assert "Δ balanced accuracy vs none" in table
    none = _rows(table)[2]
    assert none[0] == "`none`" and none[5:] == ["–", "–"]
    sentence = render_verdict_sentence(r)
    assert sentence.startswith("Against the best real-only strategy, `none`,")
    # oversample is real-only (known by name), synthetic-only is CAS: two compared
    assert "`oversample`" not in sentence and "`synthetic-only" not in sentence


def test_cli_report_markdown_prints_the_verdict(tmp_path: Path, cli) -> None:
    r = make_results()
    out = write_experiment(tmp_path / "exp", r)
    code, stdout, err = cli("report", out, "--markdown")
    assert code == 0, err
    assert stdout == render_verdict_markdown(r) + "\n"
    assert not (out / "report.html").exists()
    r["experiment"] = "scarcity"
    out2 = write_experiment(tmp_path / "exp2", r)
    code, _, err = cli("report", out2, "--markdown")
    assert code == 1 and "per_fraction" in err and len(err.strip().splitlines()) == 1


def _d(diff: float, lo: float, hi: float) -> dict:
    return {"diff": diff, "ci_low": lo, "ci_high": hi}


def _call(c: str) -> dict:
    return {"call": c, "p_holm": 0.01, "p_tost_holm": 0.5}


def test_the_headlines_say_where_synthetic_images_helped_or_that_they_never_did() -> None:
    from lesiongan.experiments.verdict_calls import (
        render_imbalance_headline,
        render_scarcity_headline,
    )

    keys = ("melanoma_auc", "keratosis_auc", "macro_auc")
    flat = {k: _call("inconclusive") for k in keys}
    results = {
        "reference": "oversample",
        "paired_vs_reference": {"a@u": {k: _d(0.01, -0.01, 0.03) for k in keys}},
        "calls": {"a@u": flat},
    }
    never = render_imbalance_headline(results)
    assert "none beats it on melanoma, keratosis or macro AUC" in never
    assert "none is worse" in never and "0 of 1 are equivalent" in never
    results["calls"]["a@u"] = {**flat, "keratosis_auc": _call("better")}
    results["paired_vs_reference"]["a@u"]["keratosis_auc"] = _d(0.04, 0.02, 0.06)
    helped = render_imbalance_headline(results)
    assert "better: `a@u` on keratosis AUC (+0.040 [+0.020, +0.060])" in helped

    per = {
        f"frac-{f:g}": {
            "fraction": f,
            "paired_vs_reference": {
                "synthetic-balance@gan": {k: _d(-0.01, -0.03, 0.01) for k in keys},
                "synthetic-balance@oracle": {k: _d(0.05, 0.03, 0.07) for k in keys},
            },
        }
        for f in (0.1, 1.0)
    }
    calls = {f"{t}/synthetic-balance@gan": flat for t in per}
    text = render_scarcity_headline({"per_fraction": per, "calls": calls})
    assert text.startswith("Synthetic images beat the best real-only strategy at no fraction")
    assert "worse nowhere" in text
    assert "by +0.050 [+0.030, +0.070] at 10 % and +0.050 [+0.030, +0.070] at 100 %" in text
    calls["frac-0.1/synthetic-balance@gan"] = {**flat, "melanoma_auc": _call("worse")}
    assert "worse at 10 % on melanoma AUC (-0.010 [-0.030, +0.010])" in render_scarcity_headline(
        {"per_fraction": per, "calls": calls}
    )


def test_the_finetune_sentence_gives_each_endpoint_its_difference_and_call() -> None:
    from lesiongan.experiments.verdict_calls import render_finetune_sentence

    keys = ("melanoma_auc", "keratosis_auc", "macro_auc", "balanced_accuracy")
    mean = {"mean": 0.8, "ci_low": 0.79, "ci_high": 0.81, "n": 5}
    results = {
        "reference": "class-weight",
        "summary": {
            "class-weight": {"macro_auc": {**mean, "mean": 0.78}},
            "ft-class-weight": {"macro_auc": mean},
        },
        "finetune": {
            "reference": "ft-class-weight",
            "paired_vs_reference": {"ft-a@u": {k: _d(0.01, -0.01, 0.03) for k in keys}},
            "calls": {
                "ft-a@u": {
                    **{k: _call("inconclusive") for k in keys},
                    "balanced_accuracy": _call("worse"),
                }
            },
        },
    }
    results["finetune"]["paired_vs_reference"]["ft-a@u"]["balanced_accuracy"] = _d(
        -0.1, -0.14, -0.07
    )
    text = render_finetune_sentence(results)
    assert text.startswith(
        "Fine-tuned end to end (5 classifier seeds): `ft-a@u` against `ft-class-weight`"
    )
    assert "macro AUC +0.010 [-0.010, +0.030] (inconclusive)" in text
    assert "balanced accuracy -0.100 [-0.140, -0.070] (worse)" in text
    assert "macro AUC 0.800 [0.790, 0.810], the cached `class-weight` 0.780" in text
    from lesiongan.experiments.report import verdict_html

    html = verdict_html({**results, "calls": {}, "statistics": {}})  # the report says it too
    assert "<code>ft-a@u</code> against <code>ft-class-weight</code>" in html
