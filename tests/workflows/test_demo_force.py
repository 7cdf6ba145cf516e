"""Issue 19 item 1 for the demo: ``demo --force`` redoes the demo's own stages only. Pointed at a
directory that holds anything else (the current directory, a parent with unrelated runs), it
refuses in one line naming what is there, before any stage is touched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lesiongan.errors import OutputExistsError
from lesiongan.workflows.demo import build_demo_plan, run_demo


def _stage(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "provenance.json").write_text("{}")
    (path / "config.yaml").write_text("seed: 0\n")
    return path


def test_force_refuses_a_directory_with_other_entries(tmp_path: Path) -> None:
    root = tmp_path / "work"
    gan = _stage(root / "gan")  # a GAN run of the user's, named like the demo's
    _stage(root / "clf")
    (root / "thesis.txt").write_text("years of work")
    with pytest.raises(OutputExistsError) as err:
        run_demo(build_demo_plan(root, quick=True), force=True)
    msg = str(err.value)
    assert msg.startswith(f"{root}: holds clf/, thesis.txt, which the demo did not write")
    assert "\n" not in msg
    assert sorted(p.name for p in root.iterdir()) == ["clf", "gan", "thesis.txt"]
    assert sorted(p.name for p in gan.iterdir()) == ["config.yaml", "provenance.json"]


def test_force_from_inside_a_project_names_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stage(tmp_path / "gan")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    with pytest.raises(OutputExistsError, match=r"^\.\.: holds sub/, which the demo did not"):
        run_demo(build_demo_plan(Path(".."), quick=True), force=True)
    assert os.listdir(tmp_path / "gan") != []


def test_a_demo_directory_with_its_locks_is_its_own(tmp_path: Path) -> None:
    from lesiongan.utils.outdir import check_holds_only
    from lesiongan.workflows.demo import DEMO_ENTRIES

    for name in DEMO_ENTRIES:
        _stage(tmp_path / name)
    (tmp_path / ".gan.lock").write_text("")  # left by a killed run
    (tmp_path / ".experiment.tmp-99-abcd").mkdir()
    check_holds_only(tmp_path, DEMO_ENTRIES, "the demo")  # no error
