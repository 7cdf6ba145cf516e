"""The Turing test web app (FastAPI, server-rendered Jinja2 pages, SQLite in WAL mode).

Routes (every one needs a secret token; an unknown token is a plain 404):
- ``GET  /r/{token}``: the rater's next image in their own order, or the "finished" page.
- ``POST /r/{token}/answer``: real/synthetic, confidence 1-5, optional diagnosis; recorded once
  (a second submission of the same image, e.g. a double click, changes nothing), then 303 back.
- ``GET  /r/{token}/image/{public_id}``: the image bytes, only for the rater's own items.
- ``GET  /r/{token}/pause``: "your answers are saved, come back with your link".
- ``GET  /admin/{admin_token}``: progress per rater and their links; ``POST .../raters`` invites;
  ``GET .../results`` the statistics so far (the same as ``turing results``) with plots.

Forms carry a token signed with the study's secret over a per-browser cookie (SameSite=Strict,
HttpOnly) and the rater's token; cross-site requests (``Origin`` neither this host nor the public
URL, ``Sec-Fetch-Site: cross-site``) are refused. A rater's page never holds the truth, the
origin file name or the class of the image.

Behind a reverse proxy the app is told its ``public_url`` (``https://host/prefix``): the origin
check accepts it, pages link below its prefix, and the admin page builds rater links from it.
Links are never built from the request's ``Host`` header, which the client controls. Behind
HTTPS (``public_url`` or the request) the session cookie is ``Secure``.

No answer is lost silently: the app refuses to start on a study it cannot write, and an answer
that cannot be stored later (a full disk, a file made read-only) shows the rater a page saying
it was not saved and may be submitted again (HTTP 503), and is logged as an error for the admin.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import logging
import re
import secrets
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from lesiongan.errors import ConfigError, DataError, LesionganError
from lesiongan.turing import db

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "lg_session"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # tokens never leave in a Referer; Origin still sent
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


class NotFound(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(404, "Not found")


def parse_public_url(url: str) -> tuple[str, str]:
    """``https://host[:port]/prefix`` -> (origin ``https://host[:port]``, prefix ``/prefix``)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--public-url {url!r}: expected http(s)://host[:port][/prefix]")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"--public-url {url!r}: no query, fragment or user name allowed")
    try:
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        raise ConfigError(f"--public-url {url!r}: bad port") from None
    return f"{parts.scheme}://{parts.netloc.lower()}", parts.path.rstrip("/")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket, or one line saying why not (port in use, address not here)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise LesionganError(f"{host}: cannot listen on this address ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        shown = f"[{host}]" if ":" in host else host
        raise LesionganError(
            f"{shown}:{port}: cannot listen ({exc.strerror}; is another server using the port?)"
            if exc.errno == errno.EADDRINUSE
            else f"{shown}:{port}: cannot listen ({exc.strerror})"
        ) from None
    return sock


def build_app(db_path: Path, public_url: str | None = None) -> FastAPI:
    """The app for one study database (opened once here to check that it is a study).

    ``public_url``: where raters reach the study through a reverse proxy (see the module doc).

    Long on purpose: the routes are closures over this study's secret, admin token and
    templates, which is FastAPI's plain app-factory pattern; each route stays a few lines.
    """
    db_path = Path(db_path)
    conn = db.open_study(db_path)
    try:
        db.check_writable(conn, db_path)  # answers must be storable before a rater sees a page
        meta = db.get_meta(conn)
    finally:
        conn.close()
    secret = bytes.fromhex(meta["form_secret"])
    admin_token: str = meta["admin_token"]
    diagnoses: list[str] = list(meta.get("dataset_classes") or meta.get("classes") or [])
    public_origin, root = parse_public_url(public_url) if public_url else (None, "")
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["root"] = root  # every link in the pages starts with it

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, title="lesiongan Turing test")
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def get_conn(request: Request) -> Iterator[sqlite3.Connection]:
        try:  # opening writes study-wal/-shm: a disk filled since the start refuses it
            c = db.connect(db_path)
        except sqlite3.Error as exc:
            saving, what = request.method == "POST", f"{request.method} {request.url.path}"
            lost = ", an answer was NOT saved" if saving else ""
            log.error("%s: cannot open the study (%s); %s refused%s", db_path, exc, what, lost)
            raise StarletteHTTPException(503, NOT_SAVED if saving else UNAVAILABLE) from None
        try:
            yield c
        finally:
            c.close()

    def rater_for(token: str, c: sqlite3.Connection) -> db.Rater:
        rater = db.rater_by_token(c, token) if _TOKEN.match(token) else None
        if rater is None:
            raise NotFound()
        return rater

    def check_admin(token: str) -> None:
        if not secrets.compare_digest(token.encode(), admin_token.encode()):
            raise NotFound()

    def session_of(request: Request) -> tuple[str, bool]:
        value = request.cookies.get(SESSION_COOKIE, "")
        if _TOKEN.match(value) and len(value) >= 16:
            return value, False
        return secrets.token_urlsafe(16), True

    def csrf_for(session: str, scope: str) -> str:
        return hmac.new(secret, f"{session}|{scope}".encode(), hashlib.sha256).hexdigest()

    def check_form(request: Request, csrf: str | None, scope: str) -> None:
        origin = request.headers.get("origin")
        host = request.headers.get("host", "")
        allowed = {f"{request.url.scheme}://{host}", public_origin}
        if origin is not None and origin.lower() not in allowed:
            raise StarletteHTTPException(403, "Cross-site form submission refused.")
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise StarletteHTTPException(403, "Cross-site form submission refused.")
        session = request.cookies.get(SESSION_COOKIE, "")
        expected = csrf_for(session, scope).encode()
        if not session or not csrf or not hmac.compare_digest(csrf.encode(), expected):
            raise StarletteHTTPException(
                403, "This form has expired or did not come from this page. Reload and try again."
            )

    def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        session, fresh = session_of(request)
        scope = context.get("scope")
        if scope:
            context["csrf"] = csrf_for(session, scope)
        response = templates.TemplateResponse(request, name, context, status_code=status)
        if fresh:
            secure = request.url.scheme == "https" or (public_origin or "").startswith("https:")
            response.set_cookie(
                SESSION_COOKIE, session, httponly=True, samesite="strict", path="/", secure=secure
            )
        return response

    def not_saved(request: Request, c: sqlite3.Connection, rater: db.Rater, exc: Exception):
        log.error(
            "%s: an answer of rater %r was NOT saved (%s); the rater was asked to submit again",
            db_path,
            rater.name,
            exc,
        )
        try:
            return rate_page(request, c, rater, NOT_SAVED, status=503)
        except sqlite3.Error:  # the study cannot even be read: a plain page says the same
            context = {"status": 503, "message": NOT_SAVED}
            return templates.TemplateResponse(request, "error.html", context, status_code=503)

    def rate_page(
        request: Request, c: sqlite3.Connection, rater: db.Rater, error: str = "", status=200
    ) -> Response:
        prog = db.progress(c, rater.id)
        item = db.next_item(c, rater.id)
        if item is None:
            return page(request, "done.html", {"rater": rater, "progress": prog})
        context = {
            "rater": rater,
            "progress": prog,
            "item": item,
            "scope": rater.token,
            "diagnoses": diagnoses,
            "error": error,
        }
        return page(request, "rate.html", context, status)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for key, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        context = {"status": exc.status_code, "message": exc.detail}
        return templates.TemplateResponse(
            request, "error.html", context, status_code=exc.status_code
        )

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> Response:
        return templates.TemplateResponse(request, "index.html", {})

    @app.get("/r/{token}", response_class=HTMLResponse)
    def rate(request: Request, token: str, c: sqlite3.Connection = Depends(get_conn)) -> Response:
        return rate_page(request, c, rater_for(token, c))

    @app.post("/r/{token}/answer")
    def answer(
        request: Request,
        token: str,
        item: str = Form(""),
        answer: str = Form(""),
        confidence: str = Form(""),
        diagnosis: str = Form(""),
        csrf: str = Form(""),
        c: sqlite3.Connection = Depends(get_conn),
    ) -> Response:
        rater = rater_for(token, c)
        check_form(request, csrf, rater.token)
        error = _validate(answer, confidence, diagnosis, diagnoses)
        if error:
            return rate_page(request, c, rater, error, status=400)
        if not _TOKEN.match(item):
            raise NotFound()
        try:
            stored = db.record_answer(c, rater.id, item, answer, int(confidence), diagnosis or None)
        except sqlite3.Error as exc:
            return not_saved(request, c, rater, exc)
        if stored is None:
            raise NotFound()
        return RedirectResponse(f"{root}/r/{rater.token}", status_code=303)

    @app.get("/r/{token}/image/{public_id}")
    def image(token: str, public_id: str, c: sqlite3.Connection = Depends(get_conn)) -> Response:
        rater = rater_for(token, c)
        data = db.image_bytes(c, rater.id, public_id) if _TOKEN.match(public_id) else None
        if data is None:
            raise NotFound()
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/r/{token}/pause", response_class=HTMLResponse)
    def pause(request: Request, token: str, c: sqlite3.Connection = Depends(get_conn)) -> Response:
        rater = rater_for(token, c)
        return page(request, "pause.html", {"rater": rater, "progress": db.progress(c, rater.id)})

    @app.get("/admin/{token}", response_class=HTMLResponse)
    def admin(request: Request, token: str, c: sqlite3.Connection = Depends(get_conn)) -> Response:
        check_admin(token)
        return admin_page(request, c)

    def admin_page(
        request: Request, c: sqlite3.Connection, error: str = "", status: int = 200
    ) -> Response:
        rows = db.rater_overview(c)
        base = (public_origin or _bound_base(request)) + root
        for r in rows:
            r["url"] = f"{base}/r/{r['token']}"
        done, total = sum(r["done"] for r in rows), sum(r["total"] for r in rows)
        context = {
            "raters": rows,
            "done": done,
            "total": total,
            "meta": {k: v for k, v in db.get_meta(c).items() if k not in _PRIVATE_META},
            "scope": "admin",
            "admin_token": admin_token,
            "error": error,
        }
        return page(request, "admin.html", context, status)

    @app.get("/admin/{token}/results", response_class=HTMLResponse)
    def admin_results(
        request: Request, token: str, c: sqlite3.Connection = Depends(get_conn)
    ) -> Response:
        check_admin(token)
        res = _results(c)
        context = {"res": res, "admin_token": admin_token, "plots": list(PLOT_NAMES)}
        return page(request, "results.html", context)

    @app.get("/admin/{token}/plots/{name}.png")
    def admin_plot(token: str, name: str, c: sqlite3.Connection = Depends(get_conn)) -> Response:
        check_admin(token)
        res = _results(c) if name in PLOT_NAMES else None
        if res is None:
            raise NotFound()
        from lesiongan.turing.plots import plot_png  # matplotlib: only when asked for

        return Response(plot_png(res, name), media_type="image/png")

    @app.post("/admin/{token}/raters")
    def invite(
        request: Request,
        token: str,
        name: str = Form(""),
        csrf: str = Form(""),
        c: sqlite3.Connection = Depends(get_conn),
    ) -> Response:
        check_admin(token)
        check_form(request, csrf, "admin")
        name = name.strip()
        if not name or len(name) > 100:
            return admin_page(request, c, "A rater needs a name (at most 100 characters).", 400)
        try:
            db.add_rater(c, name, int(db.get_meta(c).get("seed", 0)))
        except DataError as exc:
            return admin_page(request, c, str(exc), 400)
        except sqlite3.Error as exc:
            log.error("%s: rater %r was NOT added (%s)", db_path, name, exc)
            return admin_page(
                request,
                c,
                f"The rater was NOT added: the study cannot be written "
                f"({exc}). Try again once the server's log shows why.",
                503,
            )
        return RedirectResponse(f"{root}/admin/{admin_token}", status_code=303)

    return app


_PRIVATE_META = {"admin_token", "form_secret"}
NOT_SAVED = (
    "Your answer was NOT saved: the study could not store it. Please submit it again; if this "
    "keeps happening, tell the person running the study."
)
UNAVAILABLE = (
    "The study cannot be opened right now. Please try again in a moment; if this keeps "
    "happening, tell the person running the study."
)
PLOT_NAMES = ("accuracy_per_rater", "accuracy_by_confidence", "fool_rate")  # = plots.PLOTS


def _bound_base(request: Request) -> str:
    """The address the server listens on (the socket's, never the client's ``Host`` header)."""
    server = request.scope.get("server")
    if not server or server[1] is None:
        return ""  # a unix socket: relative links
    host, port = server
    shown = f"[{host}]" if ":" in host else host
    return f"{request.url.scheme}://{shown}:{port}"


def _results(c: sqlite3.Connection) -> dict[str, Any] | None:
    from lesiongan.turing.results import compute_results  # scipy: only for the admin's page

    answers = db.load_answers(c)
    if not answers:
        return None
    return compute_results(answers, db.load_items(c), [r.name for r in db.raters(c)])


def _validate(answer: str, confidence: str, diagnosis: str, diagnoses: list[str]) -> str:
    if answer not in db.ANSWERS:
        return "Choose real or synthetic."
    if confidence not in {"1", "2", "3", "4", "5"}:
        return "Choose a confidence from 1 to 5."
    if diagnosis and diagnosis not in diagnoses:
        return "Choose a diagnosis from the list, or leave it empty."
    return ""
