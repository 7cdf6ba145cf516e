"""The verdict of experiments aggregated with calls (threshold-free endpoints, equivalence,
Holm), rendered from ``results.json`` as markdown: tables and plain sentences, so that every
number in the prose comes from the results (tests keep the docs' blocks equal to these).

- Imbalance: one row per cell that adds synthetic images (strategy@variant), the difference
  from the reference real-only strategy on each primary endpoint and balanced accuracy, with its
  95 % interval and call; then each variant's CAS; then a sentence counting the calls.
- Scarcity: per labelled fraction, the reference real-only strategy and the difference of each
  synthetic strategy and of its oracle ceiling from it; then a sentence per endpoint.
"""

from __future__ import annotations

from typing import Any

from lesiongan.experiments.verdict_format import DASH, cas_text, difference, interval, markdown

ENDPOINTS = (
    ("melanoma_auc", "melanoma AUC"),
    ("keratosis_auc", "keratosis AUC"),
    ("macro_auc", "macro AUC"),
    ("balanced_accuracy", "balanced accuracy"),
)
CALL_MARK = {"better": "better", "worse": "worse", "equivalent": "≈", "inconclusive": "?"}
LEGEND = (
    "Rows marked (Δ): the difference from the reference on the same seeds and test images, with "
    "its 95 % paired interval and call (better, worse, ≈ equivalent within the margin, "
    "? inconclusive); the other rows: mean and 95 % interval over seeds."
)


def _cell(d: dict[str, Any] | None, call: dict[str, Any] | None) -> str:
    text = difference(d)
    if call and text != DASH:
        text += f" {CALL_MARK[call['call']]}"
    return text


def render_imbalance_calls(results: dict[str, Any]) -> str:
    ref = results["reference"]
    paired, calls = results["paired_vs_reference"], results.get("calls", {})
    keys = [(k, t) for k, t in ENDPOINTS if k in results["summary"][ref]]
    header = ["strategy", *(f"{t}" for _, t in keys)]
    rows = [[f"`{ref}` (reference)", *(interval(results["summary"][ref][k]) for k, _ in keys)]]
    for s in results.get("real_only_strategies", []):
        if s != ref and s in results["summary"]:
            rows.append([f"`{s}`", *(interval(results["summary"][s][k]) for k, _ in keys)])
    rows += [
        [f"`{s}` (Δ)", *(_cell(paired[s].get(k), calls[s].get(k)) for k, _ in keys)] for s in calls
    ]
    table = markdown(header, rows) + "\n\n" + LEGEND
    variants = results.get("variants") or {}
    cas_rows = [
        [f"`{v}`", cas_text(e.get("cas")), cas_text(e.get("cas_macro_auc"))]
        for v, e in variants.items()
        if e.get("cas")
    ]
    if cas_rows:
        ref_cas = next(iter(variants.values())).get("cas_reference", ref)
        table += "\n\n" + markdown(
            ["synthetic set", f"CAS (balanced accuracy, ÷ `{ref_cas}`)", "CAS (macro AUC)"],
            cas_rows,
        )
    ft = results.get("finetune")
    if ft:
        ft_ref = ft["reference"]
        rows = [
            [f"`{ft_ref}` (reference)", *(interval(results["summary"][ft_ref][k]) for k, _ in keys)]
        ]
        rows += [
            [f"`{s}`", *(_cell(d.get(k), ft["calls"].get(s, {}).get(k)) for k, _ in keys)]
            for s, d in ft["paired_vs_reference"].items()
        ]
        chosen = results.get("finetune_chosen") or {}
        how = ", ".join(f"{k} = `{v}`" for k, v in chosen.items())
        table += "\n\nFull fine-tuning (the `ft-` runs), against the fine-tuned reference"
        table += f" (chosen on validation: {how}):\n\n" if how else ":\n\n"
        table += markdown(header, rows)
    headline = render_imbalance_headline(results)
    if ft:
        headline += " " + render_finetune_sentence(results)
    return table + "\n\n" + headline + "\n\n" + render_imbalance_sentence(results)


def _counts(calls: dict[str, dict[str, Any]], key: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"better": [], "worse": [], "equivalent": [], "inconclusive": []}
    for cell, c in calls.items():
        if key in c:
            out[c[key]["call"]].append(cell)
    return out


def _count_phrase(groups: dict[str, list[str]]) -> str:
    parts = []
    for name in ("better", "worse", "equivalent", "inconclusive"):
        n = len(groups[name])
        if n:
            what = {
                "better": "better",
                "worse": "worse",
                "equivalent": "equivalent within the margin",
                "inconclusive": "inconclusive",
            }[name]
            cells = ", ".join(f"`{c}`" for c in groups[name]) if name in ("better", "worse") else ""
            parts.append(f"{n} {what}" + (f" ({cells})" if cells else ""))
    return ", ".join(parts) if parts else "none compared"


def render_imbalance_sentence(results: dict[str, Any]) -> str:
    calls = results.get("calls") or {}
    st = results.get("statistics") or {}
    ref = results["reference"]
    lines = [
        f"Reference: `{ref}`, the {results.get('reference_chosen_by', 'reference')}. "
        f"{len(calls)} cells that add synthetic images, each against it on the same seeds and "
        f"test images ({st.get('levels', 'paired bootstrap')}; {st.get('correction', '')}; "
        f"{st.get('equivalence', '')}):"
    ]
    for key, label in ENDPOINTS:
        if any(key in c for c in calls.values()):
            lines.append(f"- {label}: {_count_phrase(_counts(calls, key))}.")
    return "\n".join(lines)


def render_scarcity_calls(results: dict[str, Any]) -> str:
    per = results["per_fraction"]
    calls = results.get("calls") or {}
    keys = [(k, t) for k, t in ENDPOINTS[:3]]
    strategies = sorted(
        {s for p in per.values() for s in (p.get("paired_vs_reference") or {}) if "@" in s}
    )
    header = ["fraction (labels)", "reference", "cell", *(f"Δ {t}" for _, t in keys)]
    rows = []
    for tag, p in per.items():
        for s in strategies:
            d = (p.get("paired_vs_reference") or {}).get(s)
            if d is None:
                continue
            c = calls.get(f"{tag}/{s}", {})
            rows.append(
                [f"{p['fraction']:g} ({p['n_train']})", f"`{p['reference']}`", f"`{s}`"]
                + [_cell(d.get(k), c.get(k)) for k, _ in keys]
            )
    table = markdown(header, rows)
    lines = []
    for key, label in keys:
        groups = _counts(calls, key)
        lines.append(f"- {label}: {_count_phrase(groups)}.")
    st = results.get("statistics") or {}
    head = (
        f"Synthetic cells against each fraction's best real-only strategy (chosen on "
        f"validation), {st.get('correction', '')}; {st.get('equivalence', '')}. Oracle rows "
        "(the held-out real images in place of synthetic ones) are the ceiling, not claims:"
    )
    headline = render_scarcity_headline(results)
    return table + "\n\n" + headline + "\n\n" + head + "\n" + "\n".join(lines)


PRIMARY_LABELS = ENDPOINTS[:3]  # the threshold-free endpoints the headline speaks of


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def render_imbalance_headline(results: dict[str, Any]) -> str:
    """One plain sentence: which synthetic cells beat (or lost to) the reference, on which
    primary endpoint, with the difference; or that none did."""
    ref, paired = results["reference"], results["paired_vs_reference"]
    calls = results.get("calls") or {}
    found: dict[str, list[str]] = {"better": [], "worse": []}
    for cell, c in calls.items():
        for key, label in PRIMARY_LABELS:
            verdict = (c.get(key) or {}).get("call")
            if verdict in found:
                d = difference(paired[cell].get(key))
                found[verdict].append(f"`{cell}` on {label} ({d})")
    n = len(calls)
    head = f"Of {n} ways of adding synthetic images, against `{ref}`: "
    if not found["better"]:
        head += "none beats it on melanoma, keratosis or macro AUC"
    else:
        head += "better: " + _listing(found["better"])
    head += "; " + ("worse: " + _listing(found["worse"]) if found["worse"] else "none is worse")
    equivalent = sum(
        1 for c in calls.values() if (c.get("macro_auc") or {}).get("call") == "equivalent"
    )
    verb = "is" if equivalent == 1 else "are"
    return head + f"; {equivalent} of {n} {verb} equivalent to it on macro AUC within the margin."


def render_finetune_sentence(results: dict[str, Any]) -> str:
    """The fine-tuned cells in words: each against the fine-tuned reference on every endpoint
    (difference, interval, call after Holm over the fine-tuned family), and the fine-tuned
    reference beside the cached one on macro AUC."""
    ft, summary = results["finetune"], results["summary"]
    ref, ft_ref = results["reference"], ft["reference"]
    seeds = summary[ft_ref]["macro_auc"]["n"]
    parts = []
    for cell, d in ft["paired_vs_reference"].items():
        calls = ft["calls"].get(cell, {})
        per = [
            f"{label} {difference(d.get(key))} ({calls.get(key, {}).get('call', DASH)})"
            for key, label in ENDPOINTS
        ]
        parts.append(f"`{cell}` against `{ft_ref}`: " + ", ".join(per))
    return (
        f"Fine-tuned end to end ({seeds} classifier seeds): "
        + "; ".join(parts)
        + f". The fine-tuned reference reaches macro AUC {interval(summary[ft_ref]['macro_auc'])}"
        f", the cached `{ref}` {interval(summary[ref]['macro_auc'])}."
    )


def render_scarcity_headline(results: dict[str, Any]) -> str:
    """Plain sentences: at which fraction and on which primary endpoint synthetic images beat
    the best real-only strategy (or that they never did), next to the oracle's ceiling."""
    per, calls = results["per_fraction"], results.get("calls") or {}
    found: dict[str, list[str]] = {"better": [], "worse": []}
    ceiling = []
    for tag, p in per.items():
        pct = f"{100 * p['fraction']:g} %"
        for cell, d in (p.get("paired_vs_reference") or {}).items():
            if "@oracle" in cell:
                ceiling.append(f"{difference(d.get('macro_auc'))} at {pct}")
                continue
            for key, label in PRIMARY_LABELS:
                verdict = ((calls.get(f"{tag}/{cell}") or {}).get(key) or {}).get("call")
                if verdict in found:
                    found[verdict].append(f"at {pct} on {label} ({difference(d.get(key))})")
    text = "Synthetic images beat the best real-only strategy "
    nowhere = "at no fraction, on no primary endpoint"
    text += _listing(found["better"]) if found["better"] else nowhere
    text += "; they were worse " + (_listing(found["worse"]) if found["worse"] else "nowhere")
    text += "."
    if ceiling:
        text += (
            " The oracle ceiling (the held-out real images in their place) changes macro AUC by "
            + _listing(ceiling)
            + "."
        )
    return text
