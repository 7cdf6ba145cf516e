"""The generator tables in README.md and the docs pages are the committed head-to-head results.

Every block between ``<!-- generators:<name> -->`` and ``<!-- /generators:<name> -->`` in
README.md or a ``docs/`` page (see ``doc_pages.py``) must be exactly ``lesiongan report
docs/results/generators/<name> --markdown``, and every committed
``docs/results/generators/<name>/results.json`` is quoted on some page.
"""

from __future__ import annotations

import json

import pytest

from doc_pages import ROOT, blocks_in_pages, marked_blocks
from lesiongan.experiments.generators_report import render_generators_markdown


def generator_blocks(text: str) -> dict[str, str]:
    return marked_blocks(text, "generators")


def test_generator_tables_equal_the_committed_results() -> None:
    blocks = blocks_in_pages("generators")
    assert blocks, "no generators block in README.md or docs/"
    for page, name, text in blocks:
        path = ROOT / "docs" / "results" / "generators" / name / "results.json"
        where = f"{page.relative_to(ROOT)}'s generators:{name} block"
        assert path.is_file(), f"{where} has no {path.relative_to(ROOT)}"
        results = json.loads(path.read_text(encoding="utf-8"))
        rel = path.parent.relative_to(ROOT)
        assert text == render_generators_markdown(results), (
            f"{where} differs from {rel}/results.json; "
            f"regenerate it with: lesiongan report {rel} --markdown"
        )


def test_every_committed_head_to_head_is_quoted_somewhere() -> None:
    quoted = {name for _, name, _ in blocks_in_pages("generators")}
    committed = {
        p.parent.name for p in (ROOT / "docs" / "results" / "generators").glob("*/results.json")
    }
    assert committed <= quoted, f"quoted on no page: {sorted(committed - quoted)}"
    assert {"demo", "isic2017-cpu"} <= quoted


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
