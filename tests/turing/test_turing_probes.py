"""Issue 11's adversarial probes of the Turing test: unwritable or full study locations, bad
ports, the study file's mode, rater names with control characters."""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from turing_helpers import make_dataset, make_study, make_synthetic

from lesiongan.errors import DataError
from lesiongan.turing import db
from lesiongan.turing.app import build_app
from lesiongan.turing.study import StudyConfig, run_create, run_invite


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    ds = make_dataset(tmp_path / "ds")
    return ds, make_synthetic(tmp_path / "syn", ds)


def _create(cli, inputs, db_path: Path, *extra: object):
    ds, syn = inputs
    args = ["turing", "create", "--dataset", ds, "--synthetic", syn, "--db", db_path]
    return cli(*args, "--n-per-class", 2, *extra)


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and "━" not in ln]
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("lesiongan: error: ")
    return lines[0]


def _files(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


# --- unwritable, read-only or full study locations ------------------------------------------


def test_create_where_db_is_a_directory_is_one_line(cli, inputs, tmp_path: Path) -> None:
    target = tmp_path / "studies"
    target.mkdir()
    for extra in ((), ("--force",)):
        code, _, err = _create(cli, inputs, target, *extra)
        assert code == 1
        assert _one_error_line(err) == (
            f"lesiongan: error: {target}: is a directory; --db is the study database file to create"
        )
    assert list(target.iterdir()) == []


def test_create_below_a_regular_file_is_one_line(cli, inputs, tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code, _, err = _create(cli, inputs, blocker / "study.sqlite")
    assert code == 1
    line = _one_error_line(err)
    assert line.startswith(f"lesiongan: error: {blocker / 'study.sqlite'}: cannot create")
    assert f"{blocker} is not a directory" in line


def test_create_where_sqlite_cannot_open_the_file_is_one_line(
    cli, inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot_open(path):
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(db, "connect", cannot_open)
    study = tmp_path / "study.sqlite"
    code, _, err = _create(cli, inputs, study)
    assert code == 1
    assert _one_error_line(err) == (
        f"lesiongan: error: {study}: cannot create the study database "
        "(unable to open database file)"
    )
    assert not [n for n in _files(tmp_path) if "study" in n]


@pytest.mark.parametrize(
    "exc",
    [
        sqlite3.OperationalError("database or disk is full"),
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    ],
)
def test_create_on_a_full_disk_is_one_line_and_leaves_nothing(
    cli, inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    real_insert = db.insert_item
    calls = []

    def full(*args):
        calls.append(1)
        if len(calls) > 3:
            raise exc
        return real_insert(*args)

    monkeypatch.setattr(db, "insert_item", full)
    study = tmp_path / "study.sqlite"
    code, _, err = _create(cli, inputs, study)
    assert code == 1
    line = _one_error_line(err)
    assert line.startswith(f"lesiongan: error: {study}: cannot write the study database (")
    assert line.endswith("nothing was written")
    assert not [n for n in _files(tmp_path) if "study" in n]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_create_in_a_read_only_directory_is_one_line(cli, inputs, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = _create(cli, inputs, ro / "study.sqlite")
    finally:
        ro.chmod(0o755)
    assert code == 1 and "Permission denied" in _one_error_line(err)


def test_results_below_a_regular_file_or_on_a_full_disk_is_one_line(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path, info = make_study(tmp_path)
    conn = db.connect(db_path)
    item = db.next_item(conn, info.raters[0].id)
    db.record_answer(conn, info.raters[0].id, item, "real", 3, None)
    conn.close()
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code, _, err = cli("turing", "results", "--db", db_path, "--out", blocker / "res")
    assert code == 1 and "a file is in the way" in _one_error_line(err)

    import lesiongan.turing.plots

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(lesiongan.turing.plots, "save_plots", full)
    out = tmp_path / "res"
    code, _, err = cli("turing", "results", "--db", db_path, "--out", out)
    assert code == 1
    assert _one_error_line(err) == (
        f"lesiongan: error: {out}: cannot write the output (No space left on device); "
        "nothing was written"
    )
    assert not [n for n in _files(tmp_path) if n.startswith((".res", "res"))]


# --- serve: ports -----------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_serve_refuses_a_port_out_of_range(cli, tmp_path: Path, port: str) -> None:
    code, _, err = cli("turing", "serve", "--db", tmp_path / "x.sqlite", "--port", port)
    assert code == 2 and "Traceback" not in err and "--port" in err


def test_serve_on_a_port_in_use_is_one_line(cli, tmp_path: Path) -> None:
    db_path, _ = make_study(tmp_path)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        code, out, err = cli("turing", "serve", "--db", db_path, "--port", port)
    assert code == 1
    line = _one_error_line(err)
    assert line.startswith(f"lesiongan: error: 127.0.0.1:{port}: cannot listen (")
    assert "in use" in line
    assert "/r/" not in out  # no links printed for a server that never ran


# --- the study file's mode ----------------------------------------------------------------------


def test_study_database_and_its_journal_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask would give 0644
    try:
        db_path, info = make_study(tmp_path)
        assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
        conn = db.connect(db_path)  # as the server does: WAL and shared-memory files appear
        item = db.next_item(conn, info.raters[0].id)
        db.record_answer(conn, info.raters[0].id, item, "real", 3, None)
        for suffix in ("-wal", "-shm"):
            journal = Path(f"{db_path}{suffix}")
            assert journal.exists() and stat.S_IMODE(journal.stat().st_mode) == 0o600
        conn.close()
    finally:
        os.umask(old)


def test_replaced_study_is_private_too(cli, inputs, tmp_path: Path) -> None:
    study = tmp_path / "study.sqlite"
    assert _create(cli, inputs, study)[0] == 0  # --force replaces only a study
    study.chmod(0o644)
    code, _, err = _create(cli, inputs, study, "--force")
    assert code == 0, err
    assert stat.S_IMODE(study.stat().st_mode) == 0o600


# --- rater names --------------------------------------------------------------------------------

BAD_NAMES = {
    "nul": "eve\x00",
    "cr": "eve\rbob",
    "lf": "eve\nadmin: 1",
    "tab": "eve\tx",
    "rlo": "eve\u202egpj.exe",
    "lre": "\u202aeve",
    "pdi": "eve\u2069",
    "fsi": "\u2068eve",
    "zwj": "e\u200dve",
    "bom": "\ufeffeve",
    "del": "eve\x7f",
}


@pytest.mark.parametrize("name", sorted(BAD_NAMES))
def test_check_rater_name_refuses_control_and_format_characters(name: str) -> None:
    with pytest.raises(DataError, match="control or invisible formatting characters"):
        db.check_rater_name(BAD_NAMES[name])


def test_ordinary_names_are_accepted() -> None:
    for name in ("Dr. Müller", "José Ñúñez", "李医生", "ד״ר כהן", "O'Brien-Smith"):
        assert db.check_rater_name(f"  {name} ") == name


def test_invite_refuses_bad_names_and_adds_none(cli, tmp_path: Path) -> None:
    db_path, _ = make_study(tmp_path)
    code, _, err = cli(
        "turing", "invite", "--db", db_path, "--name", "carol", "--name", "eve\u202ex"
    )
    assert code == 1
    line = _one_error_line(err)
    assert line.startswith(f"lesiongan: error: {db_path}: rater name 'eve\\u202ex': ")
    assert line.endswith("control or invisible formatting characters are not allowed (U+202E)")
    conn = db.open_study(db_path)
    assert [r.name for r in db.raters(conn)] == ["alice", "bob"]
    conn.close()
    with pytest.raises(DataError):
        run_invite(db_path, ["da\nve"])


def test_create_refuses_bad_names_before_writing(cli, inputs, tmp_path: Path) -> None:
    study = tmp_path / "study.sqlite"
    code, _, err = _create(cli, inputs, study, "--raters", "alice,bob\x00")
    assert code == 1 and "U+0000" in _one_error_line(err)
    assert not study.exists()
    ds, syn = inputs
    with pytest.raises(DataError, match=r"U\+2066"):
        run_create(ds, syn, study, StudyConfig(n_per_class=1, raters=["\u2066x"]))


@pytest.mark.parametrize("name", ["eve\r\nbob", "eve\u202ex", "e\x00"])
def test_web_invite_refuses_bad_names_with_400(tmp_path: Path, name: str) -> None:
    db_path, info = make_study(tmp_path)
    client = TestClient(build_app(db_path))
    page = client.get(f"/admin/{info.admin_token}")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    resp = client.post(
        f"/admin/{info.admin_token}/raters",
        data={"name": name, "csrf": csrf},
        follow_redirects=False,
    )
    assert resp.status_code == 400
    assert "control or invisible formatting characters" in resp.text
    conn = db.open_study(db_path)
    assert [r.name for r in db.raters(conn)] == ["alice", "bob"]
    conn.close()
