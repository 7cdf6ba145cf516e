"""The report reads top-down as a person wants it: the verdict sentence first, then the table,
one sample grid per synthetic set, the audit, and the details; the configuration dump last,
collapsed (a constructed results.json; nothing is trained)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from variant_results import VARIANTS, make_results, write_experiment

from lesiongan.experiments.report import build_report
from lesiongan.experiments.verdict import render_verdict_sentence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "classify"))
from clf_helpers import make_synthetic_dir


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()


def test_the_report_opens_with_the_verdict_then_table_grids_audit(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    results = make_results()
    results["dataset"]["path"] = str(tiny_dataset)
    for paired in results["paired_vs_reference"].values():  # the primary endpoints too
        for k in ("melanoma_auc", "keratosis_auc", "macro_auc"):
            paired[k] = {
                **paired["balanced_accuracy"],
                "diff": -0.01,
                "ci_low": -0.04,
                "ci_high": 0.02,
            }
    out = write_experiment(tmp_path / "exp", results)
    for i, v in enumerate(VARIANTS):
        counts = {"melanoma": 3, "seborrheic_keratosis": 3, "nevus": 3}
        make_synthetic_dir(out / "synthetic" / v, tiny_dataset, counts, seed=10 + i)
    (out / "audit" / "memorization").mkdir(parents=True)
    (out / "audit" / "memorization" / "metrics.json").write_text(
        '{"features": "imagenet", "features_id": "efficientnet_lite0:imagenet:x:64px:1v"}'
    )
    (out / "config.yaml").write_text("seeds: [0, 1]\n")
    html = build_report(out).read_text()
    body = html.split("<body>", 1)[1]

    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", body)
    assert headings[:5] == [
        "Verdict",
        "Results",
        "Real vs synthetic",
        "Audit of the synthetic images",
        "Details",
    ]
    # the verdict: the sentence of `lesiongan report --markdown`, before any table or figure
    section = re.search(r'<section id="verdict">(.*?)</section>', body, re.S)
    assert section
    sentence = render_verdict_sentence(results).replace("`", "")
    assert _text(section.group(1)) == "Verdict " + sentence
    assert "<code>oversample</code>" in section.group(1)
    first_h2 = body.index("<h2")
    assert body.index('<section id="verdict">') < first_h2 + 1 < body.index("<table")
    assert body.index('id="verdict"') < body.index("<img")
    assert body.index('id="results-table"') < body.index('id="samples"')
    # the primary endpoints' forest plot right after the reference table, before the grids
    assert body.index('id="reference-table"') < body.index('id="primary"')
    assert body.index('id="primary"') < body.index('id="samples"')
    assert (out / "figures" / "primary.png").is_file()
    # one grid per synthetic set, each with real images beside that set's
    for v in VARIANTS:
        assert f'alt="real and synthetic ({v}) samples per class"' in body
    assert (out / "figures" / "samples.png").is_file()
    assert (out / "figures" / "samples-d-score.png").is_file()
    # the audit after the grids: realism of each set, then the memorization audit's features
    assert body.index('id="samples"') < body.index('id="variants-table"')
    assert body.index('id="variants-table"') < body.index("64px:1v")
    assert body.index("64px:1v") < body.index('id="details"') < body.index('id="data-counts"')
    # the configuration dump: last, collapsed
    details = re.search(r'<details id="configuration">(.*?)</details>', body, re.S)
    assert details and "seeds: [0, 1]" in details.group(1)
    assert body.index("<pre>") > body.index('id="details"')
    assert '<details id="configuration" open' not in body
