"""The verdict tables in README.md and the docs pages are the committed results, rendered.

Every block between ``<!-- verdict:<name> -->`` and ``<!-- /verdict:<name> -->`` in README.md or
a ``docs/`` page (see ``doc_pages.py``) must be exactly ``lesiongan report docs/results/<name>
--markdown`` (the tables, a blank line, the sentence) of a committed
``docs/results/<name>/results.json``; and every committed ``docs/results/<name>/results.json``
is quoted on some page. Regenerate after new results instead of editing numbers by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from doc_pages import ROOT, blocks_in_pages, marked_blocks, without_code_blocks
from lesiongan.experiments.coverage import COVERAGE, render_coverage_markdown
from lesiongan.experiments.stats import PRIMARY
from lesiongan.experiments.verdict import render_verdict_headline, render_verdict_markdown


def verdict_blocks(text: str) -> dict[str, str]:
    """``name -> text`` between each pair of verdict markers."""
    return marked_blocks(text, "verdict")


def expected_block(results_json: Path, kind: str = "verdict") -> str:
    results = json.loads(results_json.read_text(encoding="utf-8"))
    if kind == "headline":
        return render_verdict_headline(results)
    return render_verdict_markdown(results)


def check_verdicts(root: Path) -> tuple[int, list[str]]:
    """(blocks checked, one message per block that differs from its results.json, names a
    missing results.json, or per committed results.json that no page quotes)."""
    wrong = []
    blocks = blocks_in_pages("verdict", root)
    for page, name, text in blocks:
        path = root / "docs" / "results" / name / "results.json"
        where = f"{page.relative_to(root)}'s verdict:{name} block"
        if not path.is_file():
            wrong.append(f"{where} has no {path.relative_to(root)}")
        elif text != expected_block(path):
            rel = path.parent.relative_to(root)
            wrong.append(
                f"{where} differs from {rel}/results.json; "
                f"regenerate it with: lesiongan report {rel} --markdown"
            )
    headlines = blocks_in_pages("headline", root)  # the plain sentences alone, beside a figure
    for page, name, text in headlines:
        path = root / "docs" / "results" / name / "results.json"
        where = f"{page.relative_to(root)}'s headline:{name} block"
        if not path.is_file():
            wrong.append(f"{where} has no {path.relative_to(root)}")
        elif text != expected_block(path, "headline"):
            wrong.append(
                f"{where} differs from its results.json; regenerate it with "
                "lesiongan.experiments.verdict.render_verdict_headline"
            )
    for page, name, text in blocks_in_pages("coverage", root):  # lesiongan report --coverage
        path = root / "docs" / "results" / name / COVERAGE
        where = f"{page.relative_to(root)}'s coverage:{name} block"
        if not path.is_file():
            wrong.append(f"{where} has no {path.relative_to(root)}")
        elif text != render_coverage_markdown(json.loads(path.read_text(encoding="utf-8"))):
            wrong.append(
                f"{where} differs from its {COVERAGE}; regenerate it with "
                "python scripts/render_result_blocks.py"
            )
    blocks = blocks + headlines
    quoted = {name for _, name, _ in blocks}
    for path in sorted((root / "docs" / "results").glob("*/results.json")):
        if path.parent.name not in quoted:
            wrong.append(
                f"{path.relative_to(root)} is quoted on no page: paste "
                f"`lesiongan report {path.parent.relative_to(root)} --markdown` between "
                f"<!-- verdict:{path.parent.name} --> markers in the page that discusses it"
            )
    return len(blocks), wrong


def test_verdict_blocks_equal_the_committed_results() -> None:
    checked, wrong = check_verdicts(ROOT)
    assert checked, "no verdict block in README.md or docs/"
    assert not wrong, "\n".join(wrong)


def test_every_committed_verdict_is_quoted_somewhere() -> None:
    """The committed results this documentation rests on, each on a page."""
    quoted = {name for _, name, _ in blocks_in_pages("verdict")}
    quoted |= {name for _, name, _ in blocks_in_pages("headline")}
    assert {"demo", "isic2017-cpu", "isic2017-sg2-h100", "isic2017-verdict"} <= quoted
    assert "isic2017-scarcity" in quoted
    readme = verdict_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "isic2017-verdict" in readme  # the headline result
    assert "isic2017-scarcity" in marked_blocks(
        (ROOT / "README.md").read_text(encoding="utf-8"), "headline"
    )


def test_verdict_blocks_are_found() -> None:
    text = "a\n<!-- verdict:run-1 -->\n| x |\n\nSentence.\n<!-- /verdict:run-1 -->\nb"
    assert verdict_blocks(text) == {"run-1": "| x |\n\nSentence."}
    assert verdict_blocks("<!-- verdict:a -->x<!-- /verdict:b -->") == {}
    example = "```markdown\n<!-- verdict:N -->\nx\n<!-- /verdict:N -->\n```\n"
    assert verdict_blocks(example) == {"N": "x"}
    assert verdict_blocks(without_code_blocks(example + text)) == {"run-1": "| x |\n\nSentence."}


def test_a_stale_missing_or_unquoted_block_is_caught(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "experiments"))
    from variant_results import make_results

    results = make_results()
    (tmp_path / "docs" / "results" / "isic").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "isic" / "results.json").write_text(json.dumps(results))
    block = render_verdict_markdown(results)
    page = tmp_path / "docs" / "verdict.md"
    page.write_text(f"# x\n\n<!-- verdict:isic -->\n{block}\n<!-- /verdict:isic -->\n")
    assert check_verdicts(tmp_path) == (1, [])
    headline = render_verdict_headline(results)  # the plain sentences alone are checked too
    (tmp_path / "README.md").write_text(
        f"<!-- headline:isic -->\n{headline}\n<!-- /headline:isic -->"
    )
    assert check_verdicts(tmp_path) == (2, [])
    (tmp_path / "README.md").write_text(
        f"<!-- headline:isic -->\n{headline} Sure.\n<!-- /headline:isic -->"
    )
    assert check_verdicts(tmp_path)[1][0].startswith("README.md's headline:isic block differs")
    (tmp_path / "README.md").write_text(page.read_text().replace("0.", "1.", 1))
    checked, wrong = check_verdicts(tmp_path)  # a stale copy in the README is caught too
    assert checked == 2 and len(wrong) == 1
    assert wrong[0].startswith("README.md's verdict:isic block differs")
    assert "lesiongan report docs/results/isic --markdown" in wrong[0]
    (tmp_path / "README.md").write_text("<!-- verdict:gone -->\nx\n<!-- /verdict:gone -->\n")
    checked, wrong = check_verdicts(tmp_path)
    assert checked == 2 and wrong == [
        "README.md's verdict:gone block has no docs/results/gone/results.json"
    ]
    page.write_text("# no markers\n")
    (tmp_path / "README.md").unlink()
    checked, wrong = check_verdicts(tmp_path)
    assert checked == 0 and len(wrong) == 1 and "quoted on no page" in wrong[0]


def test_notes_beside_the_results_are_not_pages_that_quote(tmp_path: Path) -> None:
    from doc_pages import doc_pages

    (tmp_path / "docs" / "results" / "x").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "x" / "README.md").write_text("notes")
    (tmp_path / "docs" / "reference").mkdir()
    (tmp_path / "docs" / "reference" / "a.md").write_text("a")
    (tmp_path / "README.md").write_text("r")
    assert doc_pages(tmp_path) == [
        tmp_path / "README.md",
        tmp_path / "docs" / "reference" / "a.md",
    ]


def test_the_committed_isic_verdict_holds_what_the_issue_asks() -> None:
    """docs/results/isic2017-cpu: >= 5 seeds, real-only strategies, >= 3 synthetic variants with
    CAS and realism, paired differences against the best real-only strategy."""
    path = ROOT / "docs" / "results" / "isic2017-cpu" / "results.json"
    if not path.is_file():
        pytest.skip(f"{path} not committed")
    r = json.loads(path.read_text(encoding="utf-8"))
    assert len(r["seeds"]) >= 5
    assert {"none", "oversample", "class-weight"} <= set(r["real_only_strategies"])
    assert len(r["variants"]) >= 3
    for v in r["variants"].values():
        assert v["cas"]["cas"] is not None and v["realism"]["fid_floor"] is not None
    ref = r["reference"]
    assert ref in r["real_only_strategies"]
    best = max(
        r["real_only_strategies"], key=lambda s: r["summary"][s]["balanced_accuracy"]["mean"]
    )
    assert ref == best
    assert set(r["paired_vs_reference"]) == set(r["strategies"]) - {ref}
    for key, run in r["runs"].items():
        assert run["metrics"]["seed"] == run["seed"] and key.endswith(f"seed-{run['seed']}")


def _study() -> dict:
    cov = {"coverage": 0.93, "mc_se": 0.018, "n": 200}
    return {
        "design": {"n_generators": 2, "n_seeds": 5, "n_test_images": 800},
        "observed_ratio": {"a": 0.5, "b": 1.5},
        "n_sims": 200,
        "scenarios": [
            {
                "name": "median over the cells",
                "target_ratio": 1.0,
                "simulated_ratio": 1.1,
                "coverage": {k: {"bootstrap": cov, "t": cov} for k in PRIMARY},
            }
        ],
    }


def test_a_stale_or_missing_coverage_block_is_caught(tmp_path: Path) -> None:
    """The coverage table in the docs is coverage.json, rendered (issue 22: no hand-typed
    numbers); a coverage block without its file is named."""
    (tmp_path / "docs" / "results" / "isic").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "isic" / COVERAGE).write_text(json.dumps(_study()))
    text = render_coverage_markdown(_study())
    assert "| 1.00, median over the cells (simulated 1.10) | 0.930 |" in text
    assert "ratios run from 0.50 to 1.50" in text and "Monte Carlo SE ≤ 0.018" in text
    page = tmp_path / "docs" / "verdict.md"
    page.write_text(f"<!-- coverage:isic -->\n{text}\n<!-- /coverage:isic -->\n")
    assert check_verdicts(tmp_path) == (0, [])
    page.write_text(
        f"<!-- coverage:isic -->\n{text.replace('0.930', '0.950', 1)}\n<!-- /coverage:isic -->\n"
    )
    assert check_verdicts(tmp_path)[1][0].startswith(
        "docs/verdict.md's coverage:isic block differs"
    )
    page.write_text("<!-- coverage:gone -->\nx\n<!-- /coverage:gone -->\n")
    assert check_verdicts(tmp_path)[1] == [
        "docs/verdict.md's coverage:gone block has no docs/results/gone/coverage.json"
    ]


def test_the_committed_verdict_states_its_coverage() -> None:
    """Issue 22: the interval's coverage at the verdict's design, checked by simulation, is
    committed beside the verdict and quoted in the docs."""
    path = ROOT / "docs" / "results" / "isic2017-verdict" / COVERAGE
    study = json.loads(path.read_text(encoding="utf-8"))
    assert study["n_sims"] >= 200 and study["design"]["n_seeds"] >= 5
    assert "isic2017-verdict" in {name for _, name, _ in blocks_in_pages("coverage")}
