"""Unwritable, read-only or full output locations and unreadable configs: one line on stderr
naming the file, a non-zero exit, no traceback and nothing half-written (issue 11's probes).

Tests run as root here, where a chmod-ed directory stays writable: a read-only location is
simulated by a path below a regular file, or by making a write raise; the chmod test runs only
as another user."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from conftest import make_isic2017


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    make_isic2017(root, {"melanoma": 3, "seborrheic_keratosis": 3, "nevus": 3})
    return root


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("lesiongan: error: ")
    return lines[0]


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name)


def test_prepare_below_a_regular_file_is_one_line(cli, source: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    code, _, err = cli("data", "prepare", source, "--out", blocker / "sub", "--size", 16)
    assert code == 1
    line = _one_error_line(err)
    assert str(blocker) in line and "a file is in the way" in line
    assert blocker.read_text() == "not a directory"


def test_prepare_on_a_full_disk_is_one_line_and_leaves_nothing(
    cli, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = Path.write_bytes

    def full(self: Path, data: bytes) -> int:
        real_write(self, data[: len(data) // 2])  # a real full disk leaves a partial file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # and names no file

    monkeypatch.setattr(Path, "write_bytes", full)
    out = tmp_path / "out"
    code, _, err = cli("data", "prepare", source, "--out", out, "--size", 16, "--workers", 1)
    assert code == 1
    assert _one_error_line(err) == (
        f"lesiongan: error: {out}: cannot write the output (No space left on device); "
        "nothing was written"
    )
    assert not out.exists() and _leftovers(tmp_path) == []


def test_unwritable_temporary_output_is_one_line(
    cli, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_mkdir = Path.mkdir

    def read_only(self: Path, *args, **kwargs) -> None:
        if ".out.tmp-" in self.name:
            raise PermissionError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    code, _, err = cli("data", "prepare", source, "--out", tmp_path / "out", "--size", 16)
    assert code == 1
    assert _one_error_line(err) == (
        f"lesiongan: error: {tmp_path}: cannot create the output (Read-only file system)"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_prepare_into_a_read_only_directory_is_one_line(cli, source: Path, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = cli("data", "prepare", source, "--out", ro / "out", "--size", 16)
    finally:
        ro.chmod(0o755)
    assert code == 1 and "Permission denied" in _one_error_line(err)
    assert list(ro.iterdir()) == []


@pytest.mark.parametrize(
    "exc",
    [
        PermissionError(errno.EACCES, "Permission denied", "/data/run/log.jsonl"),
        IsADirectoryError(errno.EISDIR, "Is a directory", "/data/run/model.pt"),
        OSError(errno.EROFS, "Read-only file system", "/data/run"),
    ],
)
def test_any_environment_oserror_becomes_one_line(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: OSError
) -> None:
    import lesiongan.data.prepare

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(lesiongan.data.prepare, "run_prepare", fail)
    code, _, err = cli("data", "prepare", tmp_path, "--out", tmp_path / "o")
    assert code == 1
    assert _one_error_line(err) == f"lesiongan: error: {exc.filename}: {exc.strerror}"


def test_a_bug_keeps_its_traceback(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lesiongan.data.prepare

    def bug(*args, **kwargs):
        raise OSError(errno.EBADF, "Bad file descriptor")  # our fault, not the machine's

    monkeypatch.setattr(lesiongan.data.prepare, "run_prepare", bug)
    with pytest.raises(OSError, match="Bad file descriptor"):
        cli("data", "prepare", tmp_path, "--out", tmp_path / "o")


def test_non_utf8_config_is_one_line(cli, source: Path, tmp_path: Path) -> None:
    config = tmp_path / "prepare.yaml"
    config.write_bytes(b"size: 16\n# caf\xe9 in latin-1\n")
    code, _, err = cli("data", "prepare", source, "--out", tmp_path / "o", "--config", config)
    assert code == 1
    line = _one_error_line(err)
    assert line.startswith(f"lesiongan: error: {config}: not a UTF-8 text file")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("text", ["- size: 16\n", "just a string\n", "42\n"])
def test_config_that_is_not_a_mapping_is_one_line(
    cli, source: Path, tmp_path: Path, text: str
) -> None:
    config = tmp_path / "prepare.yaml"
    config.write_text(text)
    code, _, err = cli("data", "prepare", source, "--out", tmp_path / "o", "--config", config)
    assert code == 1
    assert f"{config}: expected a mapping" in _one_error_line(err)


def test_config_that_is_a_directory_is_one_line(cli, source: Path, tmp_path: Path) -> None:
    code, _, err = cli("data", "prepare", source, "--out", tmp_path / "o", "--config", tmp_path)
    assert code == 1
    assert (
        _one_error_line(err) == f"lesiongan: error: {tmp_path}: is a directory, not a config file"
    )
