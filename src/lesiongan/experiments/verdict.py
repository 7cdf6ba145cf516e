"""The README's verdict, rendered from an imbalance experiment's ``results.json`` (pure functions).

[`render_verdict_table`][] gives markdown: one row per strategy (real-only first, then each
synthetic variant's strategies) with the mean over seeds and its 95 % Student-t interval, and
the paired difference from the reference real-only strategy (the two-level paired bootstrap over
seeds and test images, see ``lesiongan.experiments.aggregate``); then, when the experiment
compared synthetic variants, one row per variant with its realism against the real-vs-real floor
and its classification accuracy score. [`render_verdict_sentence`][] answers, from the same
numbers, whether any strategy that adds synthetic images (``synthetic-only``, the CAS runs,
aside) beats the reference on balanced accuracy and on melanoma sensitivity: a paired interval
that lies above 0 beats it, one below 0 is worse; otherwise there is no significant difference.
``lesiongan report DIR --markdown`` prints both; tests keep the blocks quoted in the README and
the docs pages equal to them.
"""

from __future__ import annotations

from typing import Any

from lesiongan.evaluate import metrics as registry
from lesiongan.experiments.config import uses_synthetic
from lesiongan.experiments.verdict_format import (
    DASH,
)
from lesiongan.experiments.verdict_format import (
    cas_text as _cas,
)
from lesiongan.experiments.verdict_format import (
    difference as _difference,
)
from lesiongan.experiments.verdict_format import (
    interval as _interval,
)
from lesiongan.experiments.verdict_format import (
    markdown as _markdown,
)
from lesiongan.experiments.verdict_format import (
    with_floor as _with_floor,
)

CAS_STRATEGY = "synthetic-only"
TABLE_COLUMNS = (
    ("balanced_accuracy", "balanced accuracy"),
    ("sensitivity_melanoma", "melanoma sensitivity"),
    ("sensitivity_seborrheic_keratosis", "keratosis sensitivity"),
    ("melanoma_auc", "melanoma AUC"),
)
DELTA_COLUMNS = (
    ("balanced_accuracy", "Δ balanced accuracy"),
    ("sensitivity_melanoma", "Δ melanoma sensitivity"),
)
REALISM_COLUMNS = tuple((k, f"{registry.label(k)} (floor)") for k in registry.keys_in("verdict"))
VERDICT_METRICS = (
    ("balanced_accuracy", "balanced accuracy"),
    ("sensitivity_melanoma", "melanoma sensitivity"),
)

__all__ = ["render_verdict_markdown", "render_verdict_sentence", "render_verdict_table"]


def render_verdict_markdown(results: dict[str, Any]) -> str:
    """The table(s), a blank line, the sentence(s): what the docs hold between their markers.

    Results aggregated with calls (threshold-free endpoints, equivalence, Holm) render through
    :mod:`lesiongan.experiments.verdict_calls`; earlier results keep their original form."""
    from lesiongan.experiments import verdict_calls

    if results.get("experiment") == "scarcity":
        if "per_fraction" not in results:
            from lesiongan.errors import LesionganError

            raise LesionganError(
                "results.json: a scarcity experiment without per_fraction (made before calls "
                "existed); run the experiment again to aggregate it"
            )
        return verdict_calls.render_scarcity_calls(results)
    if results.get("calls") is not None:
        return verdict_calls.render_imbalance_calls(results)
    return render_verdict_table(results) + "\n\n" + render_verdict_sentence(results)


def render_verdict_headline(results: dict[str, Any]) -> str:
    """The verdict in plain sentences (what a README quotes beside a figure)."""
    from lesiongan.experiments import verdict_calls

    if results.get("experiment") == "scarcity":
        return verdict_calls.render_scarcity_headline(results)
    if results.get("calls") is not None:
        return verdict_calls.render_imbalance_headline(results)
    return render_verdict_sentence(results)


def render_verdict_table(results: dict[str, Any]) -> str:
    """Markdown: the strategies table, then (with variants) the variants table."""
    reference, paired = _reference(results)
    header = [
        "strategy",
        *(t for _, t in TABLE_COLUMNS),
        *(f"{t} vs {reference}" for _, t in DELTA_COLUMNS),
    ]
    rows = []
    for s in ordered_strategies(results):
        m = results["summary"][s]
        cells = [_interval(m.get(k)) for k, _ in TABLE_COLUMNS]
        for k, _ in DELTA_COLUMNS:
            cells.append(DASH if s == reference else _difference(paired.get(s, {}).get(k)))
        rows.append([f"`{s}`", *cells])
    out = _markdown(header, rows)
    variants = results.get("variants") or {}
    if variants:
        realism = {n: v.get("realism") or {} for n, v in variants.items()}
        registry.check_comparable(realism, "variants")
        header = ["variant", "selection", *(t for _, t in REALISM_COLUMNS), "CAS [95 % CI]"]
        rows = []
        for name, v in variants.items():
            realism = v.get("realism") or {}
            cells = [
                _with_floor(realism.get(k), realism.get(f"{k}_floor")) for k, _ in REALISM_COLUMNS
            ]
            rows.append([f"`{name}`", _selection(v), *cells, _cas(v.get("cas"))])
        out += "\n\n" + _markdown(header, rows)
    return out


def render_verdict_sentence(results: dict[str, Any]) -> str:
    """Does any strategy that adds synthetic images beat the reference on balanced accuracy and
    on melanoma sensitivity, with paired 95 % intervals? One plain sentence from the numbers."""
    reference, paired = _reference(results)
    real_only = _real_only(results)
    # synthetic-only runs measure CAS; they are no way to train the classifier
    synthetic = [
        s
        for s in ordered_strategies(results)
        if s not in real_only and not s.startswith(f"{CAS_STRATEGY}@") and s != CAS_STRATEGY
    ]
    if not synthetic:
        return f"No strategy that adds synthetic images was run to compare with `{reference}`."
    answers = []
    for key, label in VERDICT_METRICS:
        if not any(key in paired.get(s, {}) for s in synthetic):
            continue
        answers.append(
            f"on {label}, {_answer([(s, paired.get(s, {}).get(key)) for s in synthetic])}"
        )
    what = (
        "the best real-only strategy"
        if reference == _best_real_only(results)
        else "the reference real-only strategy"
    )
    return (
        f"Against {what}, `{reference}`, with paired 95 % intervals (seeds and test images "
        f"resampled): {'; '.join(answers)}."
    )


def ordered_strategies(results: dict[str, Any]) -> list[str]:
    """Real-only strategies first, then each variant's strategies, then any other."""
    strategies = [s for s in results["strategies"] if s in results["summary"]]
    real_only = [s for s in strategies if s in _real_only(results)]
    by_variant = [
        s for v in results.get("variants") or {} for s in strategies if s.endswith(f"@{v}")
    ]
    rest = [s for s in strategies if s not in real_only and s not in by_variant]
    return real_only + by_variant + rest


def _real_only(results: dict[str, Any]) -> list[str]:
    if "real_only_strategies" in results:
        return list(results["real_only_strategies"])
    return [s for s in results["strategies"] if not _adds_synthetic(s)]


def _adds_synthetic(strategy: str) -> bool:
    try:
        return uses_synthetic(strategy.split("@")[0])
    except ValueError:  # a strategy this version does not know: judge by its name
        return "@" in strategy or "synthetic" in strategy


def _reference(results: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The reference strategy and the paired differences against it (``none`` without one)."""
    if results.get("reference") and results.get("paired_vs_reference") is not None:
        return results["reference"], results["paired_vs_reference"]
    return results.get("baseline", "none"), results.get("paired") or {}


def _best_real_only(results: dict[str, Any]) -> str | None:
    means = {
        s: results["summary"][s]["balanced_accuracy"]["mean"]
        for s in _real_only(results)
        if s in results["summary"]
    }
    means = {s: m for s, m in means.items() if m is not None}
    return max(means, key=means.get) if means else None


def _answer(diffs: list[tuple[str, dict[str, Any] | None]]) -> str:
    better = [(s, d) for s, d in diffs if _sign(d) > 0]
    worse = [(s, d) for s, d in diffs if _sign(d) < 0]
    n_rest = len(diffs) - len(better) - len(worse)
    if not better and not worse:
        shown = {1: "the one compared shows", 2: "both compared show"}.get(
            n_rest, f"all {n_rest} compared show"
        )
        return (
            f"no strategy that adds synthetic images beats it ({shown} no significant difference)"
        )
    clauses = []
    if better:
        clauses.append(f"{_names(better)} {'beats' if len(better) == 1 else 'beat'} it")
    else:
        clauses.append("no strategy that adds synthetic images beats it")
    if worse:
        clauses.append(f"{_names(worse)} {'is' if len(worse) == 1 else 'are'} worse")
    if n_rest:
        others = "the other one shows" if n_rest == 1 else f"the other {n_rest} show"
        clauses.append(f"{others} no significant difference")
    return ", ".join(clauses[:-1]) + (" and " if len(clauses) > 1 else "") + clauses[-1]


def _sign(d: dict[str, Any] | None) -> int:
    """+1 when the interval lies above 0, -1 below, 0 when it holds 0 or is missing."""
    if not d or d.get("ci_low") is None or d.get("ci_high") is None:
        return 0
    return 1 if d["ci_low"] > 0 else -1 if d["ci_high"] < 0 else 0


def _names(items: list[tuple[str, dict[str, Any] | None]]) -> str:
    parts = [f"`{s}` ({_difference(d)})" for s, d in items]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _selection(v: dict[str, Any]) -> str:
    if v.get("select") in (None, "none"):
        return "none (all kept)"
    return f"{v['select']}, keep {v.get('keep', 1.0):g}"
