"""README.md's generator tables are the committed head-to-head results, rendered.

For each ``docs/results/generators/<name>/results.json`` whose markers
``<!-- generators:<name> -->`` and ``<!-- /generators:<name> -->`` are in README.md, the text
between them must be exactly ``lesiongan report docs/results/generators/<name> --markdown``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lesiongan.experiments.generators_report import render_generators_markdown

ROOT = Path(__file__).resolve().parents[1]


def generator_blocks(readme: str) -> dict[str, str]:
    found = re.findall(
        r"<!-- generators:([\w.-]+) -->\n?(.*?)\n?<!-- /generators:\1 -->", readme, re.S
    )
    return dict(found)


def test_readme_generator_tables_equal_the_committed_results() -> None:
    blocks = generator_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    if not blocks:
        pytest.skip("README.md has no generators block")
    for name, text in blocks.items():
        path = ROOT / "docs" / "results" / "generators" / name / "results.json"
        assert path.is_file(), f"README.md's generators:{name} block has no {path}"
        results = json.loads(path.read_text(encoding="utf-8"))
        rel = path.parent.relative_to(ROOT)
        assert text == render_generators_markdown(results), (
            f"README.md's generators:{name} block differs from {rel}/results.json; "
            f"regenerate it with: lesiongan report {rel} --markdown"
        )


def test_the_committed_isic_head_to_head_holds_what_the_issue_asks() -> None:
    """Both families on the same wall-clock budget, audited against the floor, with CAS and
    a curve; the figures beside them."""
    path = ROOT / "docs" / "results" / "generators" / "isic2017-cpu" / "results.json"
    if not path.is_file():
        pytest.skip(f"{path} not committed")
    r = json.loads(path.read_text(encoding="utf-8"))
    here = {n: g for n, g in r["generators"].items() if not g["reused_run"]}
    assert {g["training"]["arch"] for g in here.values()} == {"pggan", "stylegan2"}
    minutes = {round(g["training"]["minutes"]) for g in here.values()}
    assert minutes == {round(r["budget_minutes"])}  # equal wall clock
    for g in r["generators"].values():
        assert g["realism"]["fid"] is not None and g["cas"]["cas"] is not None
        assert g["curve"][-1]["minutes"] == pytest.approx(g["training"]["minutes"], abs=0.01)
    assert r["floor"]["fid"] is not None and r["floor"]["recall"] is not None
    figures = path.parent / "figures"
    assert (figures / "curve.png").is_file()
    for c in r["classes"]:
        assert (figures / f"grid-{c}.png").is_file()


def test_blocks_are_found() -> None:
    text = "a\n<!-- generators:x-1 -->\n| t |\n<!-- /generators:x-1 -->\n"
    assert generator_blocks(text) == {"x-1": "| t |"}
