"""Behind an HTTPS reverse proxy (``--public-url``), and links that never come from ``Host``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from turing_helpers import form_fields, make_study

from lesiongan.errors import ConfigError
from lesiongan.turing.app import build_app, parse_public_url

PUBLIC = "https://study.example.org/turing"
# what a proxy that rewrites Host (nginx's default) and adds X-Forwarded-Proto forwards
PROXIED = {
    "Host": "127.0.0.1:8000",
    "X-Forwarded-Proto": "https",
    "Origin": "https://study.example.org",
}


@pytest.fixture
def study(tmp_path: Path):
    return make_study(tmp_path)


def _answer(client: TestClient, token: str, headers: dict[str, str]):
    item, csrf = form_fields(client.get(f"/r/{token}").text)
    data = {"item": item, "answer": "real", "confidence": "3", "csrf": csrf}
    return client.post(f"/r/{token}/answer", data=data, headers=headers, follow_redirects=False)


def test_without_public_url_a_proxied_answer_is_refused(study) -> None:
    db_path, info = study
    client = TestClient(build_app(db_path))
    assert _answer(client, info.raters[0].token, PROXIED).status_code == 403


def test_with_public_url_proxied_answers_are_accepted_below_the_prefix(study) -> None:
    db_path, info = study
    # the rater's browser speaks HTTPS to the proxy: the session cookie is Secure
    client = TestClient(build_app(db_path, public_url=PUBLIC), base_url="https://testserver")
    token = info.raters[0].token
    resp = _answer(client, token, PROXIED)
    assert resp.status_code == 303 and resp.headers["location"] == f"/turing/r/{token}"
    page = client.get(f"/r/{token}").text
    assert 'href="/turing/static/style.css"' in page
    assert f'action="/turing/r/{token}/answer"' in page
    assert f'src="/turing/r/{token}/image/' in page
    # still refused: another site, or the public host over plain http
    for origin in ("https://evil.example", "http://study.example.org"):
        assert _answer(client, token, {**PROXIED, "Origin": origin}).status_code == 403


def test_admin_links_never_come_from_the_host_header(study) -> None:
    db_path, info = study
    evil = {"Host": "evil.example"}
    page = TestClient(build_app(db_path)).get(f"/admin/{info.admin_token}", headers=evil).text
    links = re.findall(r"[a-z]+://[^\s\"<]*/r/[A-Za-z0-9_-]+", page)
    assert len(links) == 2 and "evil.example" not in page
    assert all(link.startswith("http://testserver:80/r/") for link in links)  # bound address

    public = TestClient(build_app(db_path, public_url=PUBLIC + "/"))
    page = public.get(f"/admin/{info.admin_token}", headers=evil).text
    assert "evil.example" not in page
    for r in info.raters:
        assert f"{PUBLIC}/r/{r.token}" in page


@pytest.mark.parametrize(
    "url", ["study.example.org", "ftp://h/x", "https://", "https://h/?a=1", "https://h:99999/"]
)
def test_bad_public_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="--public-url"):
        parse_public_url(url)


def test_public_url_is_split_into_origin_and_prefix() -> None:
    assert parse_public_url("HTTPS://Study.Example.org:8443/a/b/") == (
        "https://study.example.org:8443",
        "/a/b",
    )
    assert parse_public_url("http://h") == ("http://h", "")


def test_serve_with_a_bad_public_url_is_one_line(cli, study) -> None:
    db_path, _ = study
    code, out, err = cli("turing", "serve", "--db", db_path, "--public-url", "study.example.org")
    assert code == 1 and "/r/" not in out
    assert err.strip() == (
        "lesiongan: error: --public-url 'study.example.org': expected http(s)://host[:port][/prefix]"
    )
