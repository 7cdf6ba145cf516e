"""The report of an experiment with synthetic variants shows exactly the numbers of its
results.json: the difference from the best real-only strategy and the variants table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from variant_results import make_results, write_experiment

from lesiongan.experiments.report import VARIANT_REALISM, build_report, fmt


def _at(results: dict[str, Any], path: str) -> Any:
    value: Any = results
    for part in path.split("/"):
        value = value[part]
    return value


def _shown(html: str) -> dict[str, str]:
    """data-key (a path into results.json) -> the text shown, for every keyed number."""
    pairs = re.findall(r'data-key="([^"]*/[^"]*)">([^<]*)<', html)
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), "a number is keyed twice"
    return dict(pairs)


def test_report_shows_reference_and_variant_numbers(tmp_path: Path) -> None:
    results = make_results()
    out = write_experiment(tmp_path / "exp", results)
    html = build_report(out).read_text()
    shown = _shown(html)
    for key, text in shown.items():
        digits = 2 if key.endswith("p_not_better") else 3
        assert text == fmt(_at(results, key), digits), key
    # every number of the two new tables is there, and nothing else under their prefixes
    paired_keys = ["balanced_accuracy", "sensitivity_melanoma", "sensitivity_seborrheic_keratosis"]
    fields = ("diff", "ci_low", "ci_high", "p_not_better")
    expect = {
        f"paired_vs_reference/{s}/{k}/{f}"
        for s in results["paired_vs_reference"]
        for k in paired_keys
        for f in fields
    }
    for name in results["variants"]:
        expect.add(f"variants/{name}/keep")
        expect |= {f"variants/{name}/cas/{k}" for k in ("cas", "ci_low", "ci_high")}
        for k, _ in VARIANT_REALISM:  # the registry's table keys
            expect |= {f"variants/{name}/realism/{k}", f"variants/{name}/realism/{k}_floor"}
    new = {k for k in shown if k.startswith(("paired_vs_reference/", "variants/"))}
    assert new == expect
    assert shown["variants/d-score/realism/coverage_floor"] == "–"
    assert sum(k.startswith("paired/") for k in shown) == 5 * len(paired_keys) * len(fields)
    assert "Difference from the best real-only strategy (<code>oversample</code>)" in html
    assert 'id="variants-table"' in html and "<td>d-score</td><td>d-score</td>" in html
    # planted: an interval above 0 is green, one below 0 red
    row = html.split('id="reference-table"')[1].split("synthetic-balance@d-score</td>")[1]
    assert row.split("</tr>")[0].startswith('<td class="better">')
    assert (out / "figures" / "paired_reference.png").is_file()


def test_reference_none_says_so_and_no_variants_table(tmp_path: Path) -> None:
    results = make_results()
    results["reference"] = "none"
    results["paired_vs_reference"] = results["paired"]
    del results["variants"]
    html = build_report(write_experiment(tmp_path / "exp", results)).read_text()
    assert 'id="reference-table"' not in html and 'id="variants-table"' not in html
    assert "The best real-only strategy is <code>none</code>" in html
