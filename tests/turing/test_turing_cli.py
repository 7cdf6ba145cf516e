"""``lesiongan turing create|invite|results`` on the command line (serve: test_turing_server)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from turing_helpers import make_dataset, make_synthetic

from lesiongan.turing import db


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    ds = make_dataset(tmp_path / "ds")
    return ds, make_synthetic(tmp_path / "syn", ds)


@pytest.mark.parametrize("cmd", ["create", "invite", "serve", "results"])
def test_every_turing_command_has_help(cli, cmd: str) -> None:
    code, out, _ = cli("turing", cmd, "--help")
    assert code == 0 and "Usage" in out
    if cmd == "serve":  # loopback unless told otherwise
        assert "default: 127.0.0.1" in out


def test_create_prints_admin_and_rater_links(cli, inputs, tmp_path: Path) -> None:
    ds, syn = inputs
    study = tmp_path / "study.sqlite"
    code, out, err = cli(
        "turing",
        "create",
        "--dataset",
        ds,
        "--synthetic",
        syn,
        "--db",
        study,
        "--n-per-class",
        2,
        "--n-raters",
        3,
        "--base-url",
        "http://h:9",
    )
    assert code == 0, err
    conn = db.open_study(study)
    admin = db.get_meta(conn)["admin_token"]
    assert f"admin:  http://h:9/admin/{admin}" in out
    links = re.findall(r"rater (rater-\d):  http://h:9/r/([A-Za-z0-9_-]+)", out)
    assert [(r.name, r.token) for r in db.raters(conn)] == links and len(links) == 3
    assert "8 images at 16 px" in out

    code, _, err = cli(
        "turing", "create", "--dataset", ds, "--synthetic", syn, "--db", study, "--n-per-class", 2
    )
    assert code == 1 and err.strip() == (
        f"lesiongan: error: {study}: already exists (use --force to replace it)"
    )
    code, out, _ = cli("turing", "invite", "--db", study, "--name", "dr x", "--name", "dr y")
    assert code == 0 and out.count("/r/") == 2 and "rater dr x:" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--n-per-class", "9"], "has only 6 melanoma image(s)"),
        (["--n-per-class", "0"], "--n-per-class"),
        (["--n-per-class", "2", "--raters", "a", "--n-raters", "2"], "not both"),
    ],
)
def test_create_errors_are_one_line(cli, inputs, tmp_path: Path, extra, message) -> None:
    ds, syn = inputs
    code, _, err = cli(
        "turing",
        "create",
        "--dataset",
        ds,
        "--synthetic",
        syn,
        "--db",
        tmp_path / "s.sqlite",
        *extra,
    )
    assert code == 1 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "s.sqlite").exists()


def test_results_and_missing_study(cli, inputs, tmp_path: Path) -> None:
    ds, syn = inputs
    study = tmp_path / "study.sqlite"
    cli(
        "turing",
        "create",
        "--dataset",
        ds,
        "--synthetic",
        syn,
        "--db",
        study,
        "--n-per-class",
        2,
        "--raters",
        "alice",
    )
    conn = db.open_study(study)
    (alice,) = db.raters(conn)
    for item in db.load_items(conn):
        db.record_answer(conn, alice.id, item["public_id"], item["source"], 5, None)
    code, out, err = cli("turing", "results", "--db", study, "--out", tmp_path / "res")
    assert code == 0, err
    assert "8 answers from 1 rater(s): accuracy 1.000" in out and "Fleiss' kappa n/a" in out
    assert (tmp_path / "res" / "results.json").is_file()
    code, _, err = cli(
        "turing", "results", "--db", tmp_path / "nope.sqlite", "--out", tmp_path / "r2"
    )
    assert code == 1 and "no such study database" in err and err.count("\n") == 1
    code, _, err = cli("turing", "serve", "--db", ds / "manifest.csv")
    assert code == 1 and "not a lesiongan Turing study" in err
