"""Atomic output directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from lesiongan.errors import LesionganError, OutputExistsError
from lesiongan.utils.outdir import atomic_output_dir, write_text_atomic
from lesiongan.utils.provenance import save_provenance


def test_success_renames_into_place(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_output_dir(out) as tmp:
        assert tmp != out and tmp.parent == tmp_path
        (tmp / "a.txt").write_text("1")
        assert not out.exists()
    assert (out / "a.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_exception_removes_temporary_and_keeps_old_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_output_dir(out) as tmp:  # an earlier output of a stage
        (tmp / "old.txt").write_text("old")
        save_provenance(tmp, "test stage")
    with pytest.raises(RuntimeError), atomic_output_dir(out, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary, no lock file
    assert (out / "old.txt").read_text() == "old"


def test_existing_output_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OutputExistsError, match="--force"), atomic_output_dir(out):
        pass
    with atomic_output_dir(out, force=True) as tmp:
        (tmp / "x").write_text("x")
    assert [p.name for p in out.iterdir()] == ["x"]


def test_existing_file_is_not_replaced_by_a_directory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("a file")
    with (
        pytest.raises(OutputExistsError, match="not a directory"),
        atomic_output_dir(out, force=True),
    ):
        pass


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_overlap_with_inputs_is_refused(tmp_path: Path, where: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    out = {"same": src, "inside": src / "out", "around": tmp_path}[where]
    with (
        pytest.raises(LesionganError, match="overlaps the input"),
        atomic_output_dir(out, [src], force=True),
    ):
        pass
    assert src.is_dir()


def test_write_text_atomic(tmp_path: Path) -> None:
    p = tmp_path / "f.json"
    write_text_atomic(p, "1")
    write_text_atomic(p, "2")
    assert p.read_text() == "2" and [q.name for q in tmp_path.iterdir()] == ["f.json"]


def test_write_failure_is_one_error_naming_the_output_and_nothing_is_left(tmp_path: Path) -> None:
    import errno

    out = tmp_path / "out"
    full = pytest.raises(LesionganError, match=r"out: cannot write the output \(disk full\)")
    with full, atomic_output_dir(out) as tmp:
        (tmp / "partial.bin").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "disk full")
    assert list(tmp_path.iterdir()) == []


def test_failure_to_read_an_input_keeps_its_own_error(tmp_path: Path) -> None:
    missing = tmp_path / "input.csv"
    with pytest.raises(FileNotFoundError), atomic_output_dir(tmp_path / "out"):
        missing.read_text()
    assert list(tmp_path.iterdir()) == []
