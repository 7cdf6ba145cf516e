"""README.md's verdict tables are the committed results, rendered.

For each ``docs/results/<name>/results.json`` whose markers ``<!-- verdict:<name> -->`` and
``<!-- /verdict:<name> -->`` are in README.md, the text between them (without the newlines next
to the markers) must be exactly ``lesiongan report <dir> --markdown``: the tables, a blank line,
the sentence. Regenerate after new results instead of editing numbers by hand.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from lesiongan.experiments.verdict import render_verdict_sentence, render_verdict_table

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def verdict_blocks(readme: str) -> dict[str, str]:
    """``name -> text`` between each pair of verdict markers."""
    found = re.findall(r"<!-- verdict:([\w.-]+) -->\n?(.*?)\n?<!-- /verdict:\1 -->", readme, re.S)
    return dict(found)


def check_verdicts(readme: str, root: Path) -> tuple[int, list[str]]:
    """(blocks checked, one message per block that differs from its results.json)."""
    blocks = verdict_blocks(readme)
    cases = sorted((root / "docs" / "results").glob("*/results.json"))
    cases = [p for p in cases if p.parent.name in blocks]
    wrong = []
    for path in cases:
        results = json.loads(path.read_text(encoding="utf-8"))
        expect = render_verdict_table(results) + "\n\n" + render_verdict_sentence(results)
        if blocks[path.parent.name] != expect:
            rel = path.parent.relative_to(root)
            wrong.append(
                f"README.md's verdict:{path.parent.name} block differs from {rel}/results.json; "
                f"regenerate it with: lesiongan report {rel} --markdown"
            )
    return len(cases), wrong


def test_readme_verdicts_equal_the_committed_results() -> None:
    checked, wrong = check_verdicts(README.read_text(encoding="utf-8"), ROOT)
    if not checked:
        pytest.skip("no docs/results/<name>/results.json with a verdict:<name> block in README.md")
    assert not wrong, "\n".join(wrong)


def test_verdict_blocks_are_found() -> None:
    text = "a\n<!-- verdict:run-1 -->\n| x |\n\nSentence.\n<!-- /verdict:run-1 -->\nb"
    assert verdict_blocks(text) == {"run-1": "| x |\n\nSentence."}
    assert verdict_blocks("<!-- verdict:a -->x<!-- /verdict:b -->") == {}


def test_a_stale_block_is_caught(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "experiments"))
    from variant_results import make_results

    results = make_results()
    (tmp_path / "docs" / "results" / "isic").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "isic" / "results.json").write_text(json.dumps(results))
    block = render_verdict_table(results) + "\n\n" + render_verdict_sentence(results)
    readme = f"# x\n\n<!-- verdict:isic -->\n{block}\n<!-- /verdict:isic -->\n"
    assert check_verdicts(readme, tmp_path) == (1, [])
    checked, wrong = check_verdicts(readme.replace("0.", "1.", 1), tmp_path)
    assert checked == 1 and "lesiongan report docs/results/isic --markdown" in wrong[0]
    assert check_verdicts("# no markers\n", tmp_path) == (0, [])


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
