"""The web app through FastAPI's test client: tokens, the rater flow, CSRF, no traversal."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from turing_helpers import form_fields, make_study

from lesiongan.turing import db
from lesiongan.turing.app import build_app


@pytest.fixture
def study(tmp_path: Path):
    db_path, info = make_study(tmp_path)
    return db_path, info, TestClient(build_app(db_path))


def _answers(db_path: Path) -> list[tuple]:
    with sqlite3.connect(db_path) as c:
        return c.execute(
            "SELECT rater_id, item_id, answer, confidence, diagnosis FROM answers"
        ).fetchall()


def _submit(client: TestClient, token: str, answer="real", confidence="3", **extra):
    page = client.get(f"/r/{token}")
    item, csrf = form_fields(page.text)
    data = {"item": item, "answer": answer, "confidence": confidence, "csrf": csrf, **extra}
    return item, client.post(f"/r/{token}/answer", data=data, follow_redirects=False)


def test_rater_completes_the_study_and_sees_progress(study) -> None:
    db_path, info, client = study
    token = info.raters[0].token
    seen = []
    for k in range(info.n_items):
        page = client.get(f"/r/{token}")
        assert page.status_code == 200 and f"Image {k + 1} of {info.n_items}" in page.text
        item, resp = _submit(client, token, answer="synthetic" if k % 2 else "real")
        assert resp.status_code == 303 and resp.headers["location"] == f"/r/{token}"
        seen.append(item)
    assert len(set(seen)) == info.n_items  # every image once, none repeated
    done = client.get(f"/r/{token}")
    assert "You have judged all 12 images" in done.text and form_fields(done.text) is None
    assert len(_answers(db_path)) == info.n_items
    # the other rater has not started and is unaffected
    assert "Image 1 of 12" in client.get(f"/r/{info.raters[1].token}").text


def test_each_rater_has_an_own_order(study) -> None:
    db_path, info, _ = study
    conn = db.open_study(db_path)
    orders = [
        [
            r[0]
            for r in conn.execute(
                "SELECT item_id FROM assignments WHERE rater_id = ? ORDER BY position", (r.id,)
            )
        ]
        for r in info.raters
    ]
    assert sorted(orders[0]) == sorted(orders[1]) and orders[0] != orders[1]


def test_answer_is_recorded_once_and_cannot_be_changed(study) -> None:
    db_path, info, client = study
    token = info.raters[0].token
    page = client.get(f"/r/{token}")
    item, csrf = form_fields(page.text)
    first = {"item": item, "answer": "real", "confidence": "2", "csrf": csrf}
    for data in (first, first, {**first, "answer": "synthetic", "confidence": "5"}):
        resp = client.post(f"/r/{token}/answer", data=data, follow_redirects=False)
        assert resp.status_code == 303  # a double click is not an error for the rater
    rows = _answers(db_path)
    assert len(rows) == 1 and rows[0][2:4] == ("real", 2)
    assert "Image 2 of 12" in client.get(f"/r/{token}").text


def test_invalid_answers_are_refused_and_nothing_is_stored(study) -> None:
    db_path, info, client = study
    token = info.raters[0].token
    for bad in (
        {"answer": "maybe"},
        {"confidence": "6"},
        {"confidence": ""},
        {"diagnosis": "wart"},
    ):
        page = client.get(f"/r/{token}")
        item, csrf = form_fields(page.text)
        data = {"item": item, "answer": "real", "confidence": "3", "csrf": csrf, **bad}
        resp = client.post(f"/r/{token}/answer", data=data)
        assert resp.status_code == 400 and 'role="alert"' in resp.text
    assert _answers(db_path) == []
    _, ok = _submit(client, token, diagnosis="melanoma")
    assert ok.status_code == 303 and _answers(db_path)[0][4] == "melanoma"


def test_unknown_tokens_and_ids_are_404(study) -> None:
    _db_path, info, client = study
    alice, _bob = info.raters
    item, _ = form_fields(client.get(f"/r/{alice.token}").text)
    assert client.get("/r/not-a-token").status_code == 404
    assert client.get(f"/r/{alice.token}x").status_code == 404
    assert client.get(f"/r/{alice.token}/image/{item}").status_code == 200
    assert client.get(f"/r/not-a-token/image/{item}").status_code == 404
    assert client.get(f"/admin/{alice.token}").status_code == 404  # a rater is not admin
    assert client.get("/admin/wrong").status_code == 404
    assert client.get(f"/admin/{info.admin_token}").status_code == 200
    for evil in (
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "%2E%2E%2Fdb.py",
        "x' OR '1'='1",
        "1;DROP TABLE items",
    ):
        resp = client.get(f"/r/{alice.token}/image/{evil}")
        assert resp.status_code == 404 and b"root:" not in resp.content
    assert client.get("/static/../db.py").status_code == 404
    assert client.get("/static/%2e%2e/db.py").status_code == 404


def test_a_rater_cannot_answer_for_items_of_nobody(study) -> None:
    db_path, info, client = study
    page = client.get(f"/r/{info.raters[0].token}")
    _, csrf = form_fields(page.text)
    data = {"item": "does-not-exist", "answer": "real", "confidence": "3", "csrf": csrf}
    resp = client.post(f"/r/{info.raters[0].token}/answer", data=data)
    assert resp.status_code == 404 and _answers(db_path) == []


def test_cross_site_and_unsigned_forms_are_refused(study) -> None:
    db_path, info, client = study
    alice, bob = info.raters
    item, csrf = form_fields(client.get(f"/r/{alice.token}").text)
    data = {"item": item, "answer": "real", "confidence": "3", "csrf": csrf}
    url = f"/r/{alice.token}/answer"
    assert client.post(url, data={**data, "csrf": ""}).status_code == 403
    tampered = csrf[:-1] + ("1" if csrf[-1] == "0" else "0")  # always differs from csrf
    assert client.post(url, data={**data, "csrf": tampered}).status_code == 403
    assert client.post(url, data={**data, "csrf": "é" * 64}).status_code == 403
    assert client.post(url, data=data, headers={"Origin": "http://evil.example"}).status_code == 403
    resp = client.post(url, data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert resp.status_code == 403
    # another browser (no session cookie) cannot replay the form
    assert TestClient(client.app).post(url, data=data).status_code == 403
    # the token of one rater's form does not sign another rater's submission
    assert client.post(f"/r/{bob.token}/answer", data=data).status_code == 403
    assert _answers(db_path) == []
    ok = client.post(
        url, data=data, headers={"Origin": "http://testserver"}, follow_redirects=False
    )
    assert ok.status_code == 303 and len(_answers(db_path)) == 1


def test_pages_never_reveal_the_truth(study) -> None:
    db_path, info, client = study
    conn = db.open_study(db_path)
    items = db.load_items(conn)
    secrets_ = {i["origin_id"] for i in items} | {i["origin_path"] for i in items}
    token = info.raters[0].token
    for _ in range(info.n_items):
        page = client.get(f"/r/{token}")
        text = page.text
        assert not any(s in text for s in secrets_)
        item, _ = form_fields(text)
        truth = next(i for i in items if i["public_id"] == item)
        # the class appears only as an option of the diagnosis list, never marked as chosen
        assert "selected" not in text and truth["source"] not in text.split("<form")[0]
        _submit(client, token)
    pause = client.get(f"/r/{token}/pause").text
    assert "real" not in pause.lower().replace("really", "")
    assert info.raters[1].token not in client.get(f"/r/{token}").text


def test_headers_forbid_framing_sniffing_and_referrers(study) -> None:
    _, info, client = study
    resp = client.get(f"/r/{info.raters[0].token}")
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    cookie = resp.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 404


def test_admin_sees_progress_and_invites_raters(study) -> None:
    db_path, info, client = study
    _submit(client, info.raters[0].token)
    page = client.get(f"/admin/{info.admin_token}")
    assert "1 of 24 answers from 2 raters" in page.text
    assert info.raters[0].token in page.text and "alice" in page.text
    _, csrf = form_fields(page.text.replace('name="csrf"', 'name="item" value="x"> name="csrf"'))
    url = f"/admin/{info.admin_token}/raters"
    assert client.post(url, data={"name": "carol"}).status_code == 403
    resp = client.post(url, data={"name": "carol", "csrf": csrf}, follow_redirects=False)
    assert resp.status_code == 303
    assert client.post(url, data={"name": "carol", "csrf": csrf}).status_code == 400
    conn = db.open_study(db_path)
    carol = next(r for r in db.raters(conn) if r.name == "carol")
    assert "Image 1 of 12" in client.get(f"/r/{carol.token}").text


def test_build_app_refuses_what_is_not_a_study(tmp_path: Path) -> None:
    with pytest.raises(db.DataError, match="no such study"):
        build_app(tmp_path / "missing.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(db.DataError, match="not a lesiongan Turing study"):
        build_app(tmp_path / "junk.sqlite")
    sqlite3.connect(tmp_path / "other.sqlite").execute("CREATE TABLE meta (key, value)")
    with pytest.raises(db.DataError, match="not a lesiongan Turing study"):
        build_app(tmp_path / "other.sqlite")


def test_admin_results_page_and_plots(study) -> None:
    _, info, client = study
    url = f"/admin/{info.admin_token}/results"
    assert "No answers yet" in client.get(url).text
    assert client.get(f"/admin/{info.admin_token}/plots/fool_rate.png").status_code == 404
    token = info.raters[0].token
    for _ in range(4):
        _submit(client, token, answer="real")
    page = client.get(url)
    assert "4 answers from 1 rater on" in page.text and 'id="per-rater"' in page.text
    plot = client.get(f"/admin/{info.admin_token}/plots/accuracy_per_rater.png")
    assert plot.status_code == 200 and plot.content[:4] == b"\x89PNG"
    assert client.get(f"/admin/{info.admin_token}/plots/x.png").status_code == 404
    assert client.get(f"/admin/{token}/results").status_code == 404
    assert client.get(f"/admin/{token}/plots/fool_rate.png").status_code == 404
