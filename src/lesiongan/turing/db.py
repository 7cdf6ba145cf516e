"""The study database: one SQLite file (WAL) holding the images, the key, raters and answers.

Everything a study needs lives in this file, so it can be moved as one piece and the server
never touches the file system to serve an image (no path can be traversed: an image is a row
looked up by its opaque id). Every statement is parameterized.

Tables:
- ``meta(key, value)``: study settings (JSON values), the admin token, the form-signing secret.
- ``items``: one row per shown image: opaque ``public_id``, the truth (``source`` real or
  synthetic, ``label``), where it came from (``origin_id``, ``origin_path``) and the re-encoded
  bytes. Only the results and the admin side read the truth columns.
- ``raters``: name and secret token. ``assignments``: each rater's own random order.
- ``answers``: UNIQUE(rater_id, item_id), so an answer is recorded once and never changed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import sqlite3
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesiongan.errors import DataError

FORMAT = "lesiongan-turing-v1"
ANSWERS = ("real", "synthetic")
SOURCES = ("real", "synthetic")
MAX_RATER_NAME = 100  # characters (the admin page's form and the CLI alike)

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    public_id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL CHECK (source IN ('real', 'synthetic')),
    label TEXT NOT NULL,
    origin_id TEXT NOT NULL,
    origin_path TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE raters (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL UNIQUE,
    created_utc TEXT NOT NULL
);
CREATE TABLE assignments (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    position INTEGER NOT NULL,
    item_id INTEGER NOT NULL REFERENCES items(id),
    PRIMARY KEY (rater_id, position),
    UNIQUE (rater_id, item_id)
);
CREATE TABLE answers (
    id INTEGER PRIMARY KEY,
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    item_id INTEGER NOT NULL REFERENCES items(id),
    answer TEXT NOT NULL CHECK (answer IN ('real', 'synthetic')),
    confidence INTEGER NOT NULL CHECK (confidence BETWEEN 1 AND 5),
    diagnosis TEXT,
    submitted_utc TEXT NOT NULL,
    UNIQUE (rater_id, item_id)
);
"""


@dataclass(frozen=True)
class Rater:
    id: int
    name: str
    token: str


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def finished(self) -> bool:
        return self.done >= self.total


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def create_private_file(path: Path) -> None:
    """Create an empty database file readable by its owner only (0600: it holds the admin token
    and the form secret). SQLite gives its -wal and -shm files the database file's mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)  # whatever the umask


def check_rater_name(name: str) -> str:
    """The stripped name, or a DataError for an empty name or one with control or invisible
    formatting characters (line breaks, NUL, bidi overrides: Unicode categories Cc and Cf),
    which could forge lines in a CSV or reorder text on the admin page."""
    name = name.strip()
    if not name:
        raise DataError("rater name must not be empty")
    if len(name) > MAX_RATER_NAME:
        raise DataError(
            f"rater name {name[:20]!r}...: at most {MAX_RATER_NAME} characters, got {len(name)}"
        )
    bad = sorted({f"U+{ord(ch):04X}" for ch in name if unicodedata.category(ch) in ("Cc", "Cf")})
    if bad:
        raise DataError(
            f"rater name {name!r}: control or invisible formatting characters are not allowed "
            f"({', '.join(bad)})"
        )
    return name


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, durable commits."""
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    # FULL: a committed answer survives a power cut, not only a crash of the server
    conn.execute("PRAGMA synchronous = FULL")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT (the write lock is taken up front, so no upgrade deadlock)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def create_schema(conn: sqlite3.Connection, meta: dict[str, Any]) -> None:
    conn.executescript(_SCHEMA)
    values = {
        **meta,
        "format": FORMAT,
        "admin_token": secrets.token_urlsafe(24),
        "form_secret": secrets.token_hex(32),
    }
    with transaction(conn):
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [(k, json.dumps(v)) for k, v in values.items()],
        )


def open_study(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """Open an existing study; a missing file, an unopenable one or a foreign database is a
    one-line DataError. ``read_only``: where SQLite cannot write its ``-wal``/``-shm`` files
    (a read-only location), read the file as it is instead (results of a finished study)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: no such study database (create one with 'lesiongan turing create')"
        )
    try:
        conn = connect(path)
        row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            raise DataError(f"{path}: not a lesiongan Turing study ({exc})") from None
        if not read_only:
            raise DataError(f"{path}: {_cannot_open(path, exc)}") from None
        return _open_as_is(path, exc)
    except sqlite3.DatabaseError as exc:
        raise DataError(f"{path}: not a lesiongan Turing study ({exc})") from None
    if row is None or json.loads(row["value"]) != FORMAT:
        conn.close()
        raise DataError(f"{path}: not a lesiongan Turing study (format is not {FORMAT})")
    return conn


def _cannot_open(path: Path, exc: Exception) -> str:
    return (
        f"cannot open the study ({exc}): SQLite writes {path.name}-wal and {path.name}-shm "
        "beside it, so the file and its directory must be writable by this user"
    )


def _open_as_is(path: Path, first: Exception) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro&immutable=1", uri=True)
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    except sqlite3.DatabaseError:
        raise DataError(f"{path}: {_cannot_open(path, first)}") from None
    if row is None or json.loads(row["value"]) != FORMAT:
        conn.close()
        raise DataError(f"{path}: not a lesiongan Turing study (format is not {FORMAT})")
    return conn


def is_study(path: Path) -> bool:
    """Whether ``path`` is a lesiongan study file (read without writing anything)."""
    try:
        conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro&immutable=1", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        finally:
            conn.close()
        return row is not None and json.loads(row[0]) == FORMAT
    except (sqlite3.Error, ValueError):
        return False


def check_writable(conn: sqlite3.Connection, path: Path) -> None:
    """Raise a one-line DataError unless the study can be written (answers would be lost)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("UPDATE meta SET value = value WHERE key = 'format'")
        finally:
            conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise DataError(
            f"{path}: the study cannot be written ({exc}), so answers would be lost; make the "
            "file and its directory writable by this user (or free disk space), then start again"
        ) from None


def get_meta(conn: sqlite3.Connection) -> dict[str, Any]:
    return {r["key"]: json.loads(r["value"]) for r in conn.execute("SELECT key, value FROM meta")}


def insert_item(
    conn: sqlite3.Connection, source: str, label: str, origin_id: str, origin_path: str, data: bytes
) -> str:
    """Store one re-encoded image under a fresh opaque id (random, unrelated to its origin)."""
    public_id = secrets.token_urlsafe(12)
    conn.execute(
        "INSERT INTO items (public_id, source, label, origin_id, origin_path, data) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (public_id, source, label, origin_id, origin_path, data),
    )
    return public_id


def add_rater(conn: sqlite3.Connection, name: str, seed: int) -> Rater:
    """Create a rater with a secret token and their own random order of every item.

    The order is seeded by (study seed, rater number), so a study re-created with the same
    seed gives each rater the same order; tokens and image ids are random every time.
    """
    name = check_rater_name(name)
    token = secrets.token_urlsafe(24)
    with transaction(conn):
        if conn.execute("SELECT 1 FROM raters WHERE name = ?", (name,)).fetchone():
            raise DataError(f"a rater named {name!r} already exists in this study")
        index = conn.execute("SELECT COUNT(*) FROM raters").fetchone()[0]
        cur = conn.execute(
            "INSERT INTO raters (name, token, created_utc) VALUES (?, ?, ?)",
            (name, token, now_utc()),
        )
        rater_id = int(cur.lastrowid)
        item_ids = [r[0] for r in conn.execute("SELECT id FROM items ORDER BY id")]
        order = np.random.default_rng([seed, 7919, index]).permutation(len(item_ids))
        conn.executemany(
            "INSERT INTO assignments (rater_id, position, item_id) VALUES (?, ?, ?)",
            [(rater_id, pos, item_ids[i]) for pos, i in enumerate(order)],
        )
    return Rater(rater_id, name, token)


def raters(conn: sqlite3.Connection) -> list[Rater]:
    rows = conn.execute("SELECT id, name, token FROM raters ORDER BY id")
    return [Rater(r["id"], r["name"], r["token"]) for r in rows]


def rater_by_token(conn: sqlite3.Connection, token: str) -> Rater | None:
    row = conn.execute("SELECT id, name, token FROM raters WHERE token = ?", (token,)).fetchone()
    if row is None or not secrets.compare_digest(row["token"].encode(), token.encode()):
        return None
    return Rater(row["id"], row["name"], row["token"])


def progress(conn: sqlite3.Connection, rater_id: int) -> Progress:
    total = conn.execute(
        "SELECT COUNT(*) FROM assignments WHERE rater_id = ?", (rater_id,)
    ).fetchone()[0]
    done = conn.execute("SELECT COUNT(*) FROM answers WHERE rater_id = ?", (rater_id,)).fetchone()[
        0
    ]
    return Progress(done, total)


def next_item(conn: sqlite3.Connection, rater_id: int) -> str | None:
    """The public id of the rater's first unanswered item in their order, or None when done."""
    row = conn.execute(
        "SELECT i.public_id FROM assignments a JOIN items i ON i.id = a.item_id "
        "WHERE a.rater_id = ? AND NOT EXISTS "
        "(SELECT 1 FROM answers s WHERE s.rater_id = a.rater_id AND s.item_id = a.item_id) "
        "ORDER BY a.position LIMIT 1",
        (rater_id,),
    ).fetchone()
    return None if row is None else row[0]


def _assigned_item(conn: sqlite3.Connection, rater_id: int, public_id: str) -> int | None:
    row = conn.execute(
        "SELECT i.id FROM items i JOIN assignments a ON a.item_id = i.id "
        "WHERE i.public_id = ? AND a.rater_id = ?",
        (public_id, rater_id),
    ).fetchone()
    return None if row is None else int(row[0])


def image_bytes(conn: sqlite3.Connection, rater_id: int, public_id: str) -> bytes | None:
    """The image, only when it is one of this rater's items."""
    row = conn.execute(
        "SELECT i.data FROM items i JOIN assignments a ON a.item_id = i.id "
        "WHERE i.public_id = ? AND a.rater_id = ?",
        (public_id, rater_id),
    ).fetchone()
    return None if row is None else bytes(row[0])


def record_answer(
    conn: sqlite3.Connection,
    rater_id: int,
    public_id: str,
    answer: str,
    confidence: int,
    diagnosis: str | None,
) -> bool | None:
    """Store an answer once. True: stored; False: already answered (kept as it was);
    None: the item is not one of this rater's."""
    with transaction(conn):
        item_id = _assigned_item(conn, rater_id, public_id)
        if item_id is None:
            return None
        cur = conn.execute(
            "INSERT INTO answers (rater_id, item_id, answer, confidence, diagnosis, submitted_utc) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (rater_id, item_id) DO NOTHING",
            (rater_id, item_id, answer, confidence, diagnosis, now_utc()),
        )
        return cur.rowcount == 1


def rater_overview(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Per rater: name, token, answered, total, last answer time (for the admin page)."""
    rows = conn.execute(
        "SELECT r.id, r.name, r.token, "
        "(SELECT COUNT(*) FROM assignments a WHERE a.rater_id = r.id) AS total, "
        "(SELECT COUNT(*) FROM answers s WHERE s.rater_id = r.id) AS done, "
        "(SELECT MAX(submitted_utc) FROM answers s WHERE s.rater_id = r.id) AS last "
        "FROM raters r ORDER BY r.id"
    )
    return [dict(r) for r in rows]


def load_answers(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every answer joined with the truth (for the results; never served to raters)."""
    rows = conn.execute(
        "SELECT r.name AS rater, i.public_id, i.source, i.label, i.origin_id, s.answer, "
        "s.confidence, s.diagnosis, s.submitted_utc FROM answers s "
        "JOIN raters r ON r.id = s.rater_id JOIN items i ON i.id = s.item_id "
        "ORDER BY r.id, s.id"
    )
    return [dict(r) for r in rows]


def load_items(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT public_id, source, label, origin_id, origin_path FROM items ORDER BY id"
    )
    return [dict(r) for r in rows]
