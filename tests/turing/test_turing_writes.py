"""Issue 19 items 1, 3, 4 and 7 for the Turing test: --force replaces only a study, a study
never loses an answer silently (checked at start; a failed write tells the rater and the log),
a read-only study is named as such, rater names have a length cap, Secure cookies behind HTTPS,
and dataset paths stay inside the dataset."""

from __future__ import annotations

import csv
import logging
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from turing_helpers import form_fields, make_dataset, make_study, make_synthetic

from lesiongan.errors import DataError
from lesiongan.turing import db
from lesiongan.turing.app import NOT_SAVED, build_app
from lesiongan.turing.results import run_results


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and "━" not in ln]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


def _create(cli, tmp_path: Path, db_path: Path, *extra: object):
    ds = make_dataset(tmp_path / "ds")
    syn = make_synthetic(tmp_path / "syn", ds)
    args = ("turing", "create", "--dataset", ds, "--synthetic", syn, "--db", db_path)
    return cli(*args, "--n-per-class", 2, *extra)


def _read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections that cannot write, as for a study file this user may not write."""
    real = db.connect

    def connect(path):
        conn = real(path)
        conn.execute("PRAGMA query_only = ON")
        return conn

    monkeypatch.setattr(db, "connect", connect)


def _answered(tmp_path: Path) -> Path:
    """A study with one answer (results need answers)."""
    study, info = make_study(tmp_path)
    conn = db.connect(study)
    rater = info.raters[0]
    db.record_answer(conn, rater.id, db.next_item(conn, rater.id), "real", 3, None)
    conn.close()
    return study


# --- --force --------------------------------------------------------------------------------


def test_force_replaces_a_study_but_not_another_file(cli, tmp_path: Path) -> None:
    mine = tmp_path / "thesis.sqlite"
    mine.write_text("my own database")
    code, _, err = _create(cli, tmp_path, mine, "--force")
    assert code == 1
    assert "exists and is not a lesiongan Turing study; --force replaces only a study" in (
        _one_line(err)
    )
    assert mine.read_text() == "my own database"
    study = tmp_path / "study.sqlite"
    assert _create(cli, tmp_path / "a", study)[0] == 0
    old = db.get_meta(db.open_study(study))["admin_token"]
    code, _, err = _create(cli, tmp_path / "b", study, "--force")
    assert code == 0, err
    assert db.get_meta(db.open_study(study))["admin_token"] != old


def test_results_force_refuses_a_directory_lesiongan_did_not_write(cli, tmp_path: Path) -> None:
    study = _answered(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("x")
    code, _, err = cli("turing", "results", "--db", study, "--out", mine, "--force")
    assert code == 1 and "holds thesis.txt and no provenance.json" in _one_line(err)
    assert (mine / "thesis.txt").is_file()


def test_results_force_replaces_its_own_output_but_never_the_current_directory(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = _answered(tmp_path)
    out = tmp_path / "res"
    assert cli("turing", "results", "--db", study, "--out", out)[0] == 0
    (out / "results.json").write_text("{}")  # a file the stage wrote (and recorded)
    code, _, err = cli("turing", "results", "--db", study, "--out", out, "--force")
    assert code == 0, err
    assert (out / "results.json").read_text() != "{}"
    monkeypatch.chdir(out)
    code, _, err = cli("turing", "results", "--db", study, "--out", ".", "--force")
    assert code == 1 and "current directory or one of its parents" in _one_line(err)
    assert (out / "provenance.json").is_file()


def test_create_never_takes_a_directory_for_the_study(cli, tmp_path: Path) -> None:
    here = tmp_path / "here"
    here.mkdir()
    (here / "thesis.txt").write_text("x")
    code, _, err = _create(cli, tmp_path, here, "--force")
    assert code == 1 and "is a directory" in _one_line(err)
    assert (here / "thesis.txt").is_file()


# --- no answer lost silently -----------------------------------------------------------------


def test_serve_refuses_a_study_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study, _ = make_study(tmp_path)
    _read_only(monkeypatch)
    with pytest.raises(DataError) as err:
        build_app(study)
    msg = str(err.value)
    assert msg.startswith(f"{study}: the study cannot be written (attempt to write a readonly")
    assert "answers would be lost" in msg


def test_serve_cli_refuses_in_one_line(cli, tmp_path: Path, monkeypatch) -> None:
    study, _ = make_study(tmp_path)
    _read_only(monkeypatch)
    code, out, err = cli("turing", "serve", "--db", study, "--port", 1)
    assert code == 1 and "the study cannot be written" in _one_line(err)
    assert "admin:" not in out  # no link is handed out for a study that would lose answers


def test_a_failed_write_tells_the_rater_and_the_log_and_may_be_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    study, info = make_study(tmp_path)
    client = TestClient(build_app(study))
    token = info.raters[0].token
    item, csrf = form_fields(client.get(f"/r/{token}").text)
    data = {"item": item, "answer": "real", "confidence": "3", "csrf": csrf}
    real = db.record_answer

    def disk_full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(db, "record_answer", disk_full)
    with caplog.at_level(logging.ERROR, logger="lesiongan.turing.app"):
        page = client.post(f"/r/{token}/answer", data=data, follow_redirects=False)
    assert page.status_code == 503 and NOT_SAVED.split(":")[0] in page.text
    assert form_fields(page.text)[0] == item  # the same image, ready to submit again
    assert any("NOT saved" in r.message and "disk is full" in r.message for r in caplog.records)
    assert db.progress(db.connect(study), info.raters[0].id).done == 0
    monkeypatch.setattr(db, "record_answer", real)
    again = client.post(f"/r/{token}/answer", data=data, follow_redirects=False)
    assert again.status_code == 303
    assert db.progress(db.connect(study), info.raters[0].id).done == 1


def test_invite_on_a_study_it_cannot_write_is_one_line(cli, tmp_path, monkeypatch) -> None:
    study, _ = make_study(tmp_path)
    _read_only(monkeypatch)
    code, _, err = cli("turing", "invite", "--db", study, "--name", "carol")
    line = _one_line(err)
    assert code == 1 and line.startswith(f"lesiongan: error: {study}: cannot add raters")


def test_a_study_that_cannot_be_opened_is_not_called_foreign(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = _answered(tmp_path)
    real = db.connect

    def no_shm(path):  # what SQLite says where it cannot create study.sqlite-shm
        if str(path) == str(study):
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return real(path)

    monkeypatch.setattr(db, "connect", no_shm)
    code, _, err = cli("turing", "serve", "--db", study)
    line = _one_line(err)
    assert code == 1 and "cannot open the study" in line and "must be writable" in line
    assert "not a lesiongan Turing study" not in line
    # the results of a finished study can still be read where it cannot be written
    summary = run_results(study, tmp_path / "results")
    assert summary["n_answers"] == 1


# --- names, cookies, confined paths -----------------------------------------------------------


def test_rater_names_are_capped(cli, tmp_path: Path) -> None:
    code, _, err = _create(cli, tmp_path, tmp_path / "s.sqlite", "--raters", "a" * 101)
    assert code == 1 and "at most 100 characters, got 101" in _one_line(err)
    study, _ = make_study(tmp_path / "b")
    code, _, err = cli("turing", "invite", "--db", study, "--name", "b" * 5000)
    assert code == 1 and "at most 100 characters, got 5000" in _one_line(err)


@pytest.mark.parametrize(("public_url", "secure"), [("https://x.org/t", True), (None, False)])
def test_the_session_cookie_is_secure_behind_https(
    tmp_path: Path, public_url: str | None, secure: bool
) -> None:
    study, info = make_study(tmp_path)
    client = TestClient(build_app(study, public_url=public_url))
    cookie = client.get(f"/r/{info.raters[0].token}").headers["set-cookie"].lower()
    assert ("; secure" in cookie) is secure and "httponly" in cookie


def test_create_refuses_a_real_image_outside_the_dataset(cli, tmp_path: Path) -> None:
    ds = make_dataset(tmp_path / "ds")
    syn = make_synthetic(tmp_path / "syn", ds)
    with open(ds / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    (tmp_path / "outside.png").write_bytes((ds / rows[0]["path"]).read_bytes())
    rows[0]["path"] = "../outside.png"
    with open(ds / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    args = ("turing", "create", "--dataset", ds, "--synthetic", syn, "--db", tmp_path / "s.db")
    code, _, err = cli(*args, "--n-per-class", 2)
    assert code == 1 and "must stay inside" in _one_line(err)
    assert not (tmp_path / "s.db").exists()


def test_a_study_that_cannot_be_opened_while_served_tells_the_rater_and_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A disk filled after the start: opening the study (its -wal/-shm files) fails, which
    was a bare 500 and a lost answer."""
    study, info = make_study(tmp_path)
    client = TestClient(build_app(study), raise_server_exceptions=False)
    token = info.raters[0].token
    item, csrf = form_fields(client.get(f"/r/{token}").text)
    data = {"item": item, "answer": "real", "confidence": "3", "csrf": csrf}
    real = db.connect

    def full(path):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(db, "connect", full)
    with caplog.at_level(logging.ERROR, logger="lesiongan.turing.app"):
        page = client.post(f"/r/{token}/answer", data=data, follow_redirects=False)
        shown = client.get(f"/r/{token}")
    assert page.status_code == 503 and NOT_SAVED.split(":")[0] in page.text
    assert shown.status_code == 503 and "try again" in shown.text
    logged = [r.getMessage() for r in caplog.records]
    assert any("disk I/O error" in m and "NOT saved" in m for m in logged), logged
    monkeypatch.setattr(db, "connect", real)
    again = client.post(f"/r/{token}/answer", data=data, follow_redirects=False)
    assert again.status_code == 303
    assert db.progress(db.connect(study), info.raters[0].id).done == 1
