"""The audit numbers on the documentation pages are the committed files, rendered.

Every block between ``<!-- audit:NAME -->`` and ``<!-- /audit:NAME -->`` in README.md or a
``docs/`` page (see ``doc_pages.py``) must equal
:func:`lesiongan.evaluate.summary.render_audit_block` of the committed files: the detectors'
validation, the feature-size benchmark, or a folder ``docs/results/NAME`` of real-run audits.
Regenerate with ``scripts/render_audit_blocks.py`` instead of editing numbers by hand.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from doc_pages import ROOT, blocks_in_pages
from lesiongan.errors import DataError
from lesiongan.evaluate.summary import AUDITS, render_audit_block, render_audit_folder

REAL_RUNS = "audit-isic2017-sg2"


def check_audit_blocks(root: Path) -> tuple[int, list[str]]:
    """(blocks checked, one message per block that differs from its files or has none)."""
    wrong = []
    blocks = blocks_in_pages("audit", root)
    for page, name, text in blocks:
        where = f"{page.relative_to(root)}'s audit:{name} block"
        try:
            expected = render_audit_block(name, root)
        except (OSError, DataError) as exc:
            wrong.append(f"{where} has no committed files ({exc})")
            continue
        if text != expected:
            wrong.append(f"{where} differs; regenerate: scripts/render_audit_blocks.py {name}")
    return len(blocks), wrong


def test_audit_blocks_equal_the_committed_files() -> None:
    checked, wrong = check_audit_blocks(ROOT)
    assert checked and not wrong, "\n".join(wrong)
    names = {name for _, name, _ in blocks_in_pages("audit")}
    assert {"structure-validation", "feature-size"} <= names
    if (ROOT / "docs" / "results" / REAL_RUNS).is_dir():
        assert REAL_RUNS in names  # the committed real-run audit is presented on a page


def _fake_audits(folder: Path) -> None:
    classes = ["melanoma", "nevus"]
    for run, fid in (("run-a", 40.0), ("run-b", 55.5)):
        realism = {"classes": classes, "n": 8, "fid": fid, "fid_floor": 30.25,
                   "fid_ci_low": fid - 5, "fid_ci_high": fid + 5, "fid_inf": fid - 10,
                   "n_melanoma": 3, "n_nevus": 5, "fid_melanoma": 70.0, "fid_nevus": 45.0,
                   "features_id": "x:128px"}  # fmt: skip
        memo = {"classes": classes, "ct_statistic": -1.5, "ct_p_value": 0.07,
                "ct_statistic_melanoma": -3.25, "ct_statistic_nevus": 2.0,
                "n_near_duplicates": 0, "features_id": "x:128px"}  # fmt: skip
        structures = {"real_split": "train", "n_real": 10, "n_synthetic": 6,
                      "probe_size_px": 64, "features_id": "x:224px"}  # fmt: skip
        for s in ("hair", "vignette", "ruler", "ink"):
            for side, p in (("real", 0.3), ("synthetic", 0.0)):
                k = f"prevalence_{s}_{side}"
                structures.update({k: p, f"{k}_ci_low": 0.0, f"{k}_ci_high": p + 0.25})
            structures.update({f"detector_{s}_precision": 0.8, f"detector_{s}_recall": 0.7})
        for audit, m in zip(AUDITS, (realism, memo, structures), strict=True):
            (folder / run / audit).mkdir(parents=True)
            (folder / run / audit / "metrics.json").write_text(json.dumps(m))


def test_a_real_run_audit_renders_and_a_stale_block_is_caught(tmp_path: Path) -> None:
    folder = tmp_path / "docs" / "results" / "runs"
    _fake_audits(folder)
    text = render_audit_folder(folder)
    assert "| run-a | 8 | 40.0 [35.0, 45.0] | 30.0 | 70.0 (3) | 45.0 (5) |" in text
    assert "| run-a: floor (real test vs train) | 8 | 30.2" in text
    assert "| run-b | -3.25 | 2.00 | -1.50 (0.070) | 0 |" in text
    assert "| real train (10) | 30.0 % [0.0 %, 55.0 %] |" in text
    assert "| run-b (6) | 0.0 % [0.0 %, 25.0 %] |" in text
    assert "`x:128px`, `x:224px`" in text
    page = tmp_path / "docs" / "audit.md"
    page.write_text(f"# a\n\n<!-- audit:runs -->\n{text}\n<!-- /audit:runs -->\n")
    assert check_audit_blocks(tmp_path) == (1, [])
    page.write_text(page.read_text().replace("40.0 [", "39.0 ["))
    checked, wrong = check_audit_blocks(tmp_path)
    assert checked == 1 and len(wrong) == 1 and "render_audit_blocks.py runs" in wrong[0]
    shutil.rmtree(folder / "run-a" / "structures")  # an unfinished run shows where it can
    partial = render_audit_folder(folder)
    assert "| run-a | 8 |" in partial and "| run-a (6) |" not in partial
    assert "| run-b (6) |" in partial
    page.write_text("<!-- audit:gone -->\nx\n<!-- /audit:gone -->\n")
    checked, wrong = check_audit_blocks(tmp_path)
    assert checked == 1 and "has no committed files" in wrong[0]


def test_validation_and_feature_size_blocks_come_from_the_committed_json() -> None:
    validation = render_audit_block("structure-validation", ROOT)
    assert validation.count("\n") == 5 and "violet pixels" in validation
    bench = ROOT / "benchmarks" / "results" / "audit_features_cpu.json"
    if not bench.is_file():
        pytest.skip(f"{bench} not committed")
    table = render_audit_block("feature-size", ROOT)
    assert "| 64 px | 128 px |" in table and "| 64 px | 224 px |" in table


def test_an_eye_check_adds_its_row_and_a_bad_label_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    _fake_audits(folder)
    assert "by eye" not in render_audit_folder(folder)  # no eye_check.csv: no row
    lines = ["structure,run,image_id,sheet_position,present"]
    lines += [f"hair,run-a,S{i},{i},{int(i < 2)}" for i in range(5)]
    lines += ["ruler,run-b,R0,0,0"]
    (folder / "eye_check.csv").write_text("\n".join(lines) + "\n")
    text = render_audit_folder(folder)
    assert "| flagged synthetic images that show it, by eye | 2 / 5 | n/a | 0 / 1 | n/a |" in text
    (folder / "eye_check.csv").write_text(lines[0] + "\nhair,run-a,S0,0,yes\n")
    with pytest.raises(DataError, match=r"eye_check.csv: line 2: .*present 0 or 1"):
        render_audit_folder(folder)
