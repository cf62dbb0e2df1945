"""SQLite connections tuned for several processes at once (crawlers write while the API reads).

WAL lets readers run during a write; `busy_timeout` plus `BEGIN IMMEDIATE` retries mean a user never
sees "database is locked": a writer waits its turn instead of failing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import StoreError, StoreUnavailable

BUSY_TIMEOUT_MS = 30_000
LOCK_RETRY_S = 120.0


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open `path` in WAL mode with a long busy timeout; autocommit (we manage transactions)."""
    path = Path(path)
    try:
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open SQLite database {path}: {exc}") from exc


def _is_lock_error(exc: sqlite3.Error) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


@contextmanager
def write_tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """An IMMEDIATE write transaction, retried while another process holds the write lock."""
    deadline = time.monotonic() + LOCK_RETRY_S
    delay = 0.01
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            break
        except sqlite3.OperationalError as exc:
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                raise StoreError(f"could not start a write transaction: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"commit failed: {exc}") from exc


class StateDB:
    """The operational state database (API keys, brands, webhooks, outbox, alerts, jobs).

    Each component keeps its own tables: it passes its DDL to `ensure_schema` once at start-up and
    then runs queries through `read()` / `write()`. One connection per thread.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._local = threading.local()
        self._schemas_done: set[str] = set()
        self._lock = threading.Lock()

    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = connect(self.path)
            self._local.conn = c
        return c

    def ensure_schema(self, name: str, ddl: str) -> None:
        with self._lock:
            if name in self._schemas_done:
                return
            with write_tx(self.conn()) as c:
                for stmt in [s for s in ddl.split(";") if s.strip()]:
                    c.execute(stmt)
            self._schemas_done.add(name)

    def read(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        try:
            return self.conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"state query failed: {exc}") from exc

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with write_tx(self.conn()) as c:
            yield c

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None
