"""Through a real uvicorn server on loopback: concurrent raters, double clicks, a crash and
restart mid-study. No answer may be lost or recorded twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest
from turing_helpers import form_fields, free_port, live_server, make_study

import lesiongan

N_RATERS = 24


def _choice(rater: str, item: str) -> tuple[str, int]:
    h = sum(map(ord, rater + item))
    return ("real", "synthetic")[h % 2], 1 + h % 5


def _rate(client: httpx2.Client, token: str, name: str, expected: dict, limit: int = 10**6):
    """Answer up to ``limit`` images; every third submission is double-clicked (sent twice at
    once from two threads)."""
    for k in range(limit):
        fields = form_fields(client.get(f"/r/{token}").text)
        if fields is None:
            return
        item, csrf = fields
        answer, conf = _choice(name, item)
        data = {"item": item, "answer": answer, "confidence": str(conf), "csrf": csrf}
        expected[(name, item)] = (answer, conf)
        if k % 3 == 0:
            results: list[int] = []

            def click(data=data, results=results) -> None:
                results.append(client.post(f"/r/{token}/answer", data=data).status_code)

            clicks = [threading.Thread(target=click) for _ in range(2)]
            for t in clicks:
                t.start()
            for t in clicks:
                t.join()
            assert results == [303, 303]
        else:
            assert client.post(f"/r/{token}/answer", data=data).status_code == 303


def _stored(db_path: Path) -> list[tuple]:
    with sqlite3.connect(db_path) as c:
        return c.execute(
            "SELECT r.name, i.public_id, s.answer, s.confidence FROM answers s "
            "JOIN raters r ON r.id = s.rater_id JOIN items i ON i.id = s.item_id"
        ).fetchall()


def _check_complete(db_path: Path, expected: dict, n_items: int, n_raters: int) -> None:
    rows = _stored(db_path)
    assert len(rows) == n_items * n_raters == len(expected)
    assert {(n, i): (a, c) for n, i, a, c in rows} == expected


def test_concurrent_raters_double_clicks_nothing_lost_or_doubled(tmp_path: Path) -> None:
    names = [f"r{k:02d}" for k in range(N_RATERS)]
    db_path, info = make_study(tmp_path, n_per_class=2, raters=names)
    expected: dict = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(N_RATERS)

    def worker(rater) -> None:
        try:
            with httpx2.Client(base_url=base, follow_redirects=False, timeout=60) as client:
                barrier.wait()
                _rate(client, rater.token, rater.name, expected)
        except BaseException as exc:  # reported below
            errors.append(exc)

    with live_server(db_path) as base:
        threads = [threading.Thread(target=worker, args=(r,)) for r in info.raters]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    _check_complete(db_path, expected, info.n_items, N_RATERS)


def _serve(db_path: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(lesiongan.__file__).parents[1])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lesiongan",
            "turing",
            "serve",
            "--db",
            str(db_path),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited: {proc.stdout.read().decode()}")
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return proc
        except httpx2.TransportError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("server did not start")


def test_server_killed_mid_study_keeps_every_answer(tmp_path: Path) -> None:
    db_path, info = make_study(tmp_path, n_per_class=2, raters=["alice", "bob"])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    expected: dict = {}
    alice = httpx2.Client(base_url=base, timeout=30)
    bob = httpx2.Client(base_url=base, timeout=30)
    proc = _serve(db_path, port)
    try:
        _rate(alice, info.raters[0].token, "alice", expected, limit=3)
        _rate(bob, info.raters[1].token, "bob", expected, limit=5)
        pending = form_fields(alice.get(f"/r/{info.raters[0].token}").text)
    finally:
        proc.send_signal(signal.SIGKILL)  # a crash, not a clean shutdown
        proc.wait(timeout=10)
    printed = proc.stdout.read().decode()  # the links are printed when the server starts
    assert f"{base}/admin/{info.admin_token}" in printed
    assert f"rater alice:  {base}/r/{info.raters[0].token}" in printed
    assert len(_stored(db_path)) == 8
    proc = _serve(db_path, port)
    try:
        # a form loaded before the crash is still accepted after the restart
        item, csrf = pending
        answer, conf = _choice("alice", item)
        data = {"item": item, "answer": answer, "confidence": str(conf), "csrf": csrf}
        assert alice.post(f"/r/{info.raters[0].token}/answer", data=data).status_code == 303
        expected[("alice", item)] = (answer, conf)
        # resumed where each rater stopped
        assert f"Image 5 of {info.n_items}" in alice.get(f"/r/{info.raters[0].token}").text
        assert f"Image 6 of {info.n_items}" in bob.get(f"/r/{info.raters[1].token}").text
        _rate(alice, info.raters[0].token, "alice", expected)
        _rate(bob, info.raters[1].token, "bob", expected)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        alice.close()
        bob.close()
    _check_complete(db_path, expected, info.n_items, 2)
