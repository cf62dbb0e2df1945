"""API keys: random tokens stored only as SHA-256 hashes, with scopes read < write < admin.

A token looks like `opm_<key id>_<43 random url-safe chars>`. The key id (e.g. `k3f9a1c2b`) is public:
it names the key in listings, logs and revocation. The token itself is shown once, at creation, and
never stored; we keep sha256(token). A plain SHA-256 is the right tool here (not bcrypt): the token has
256 bits of entropy, so there is nothing to brute-force, and lookups must be fast on every request.

The bootstrap admin key (`OPMON_ADMIN_KEY`) is hashed into the table on start-up as key id `bootstrap`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from core.errors import InvalidInput, NotFound
from store.sqlite_db import StateDB

TOKEN_PREFIX = "opm_"
BOOTSTRAP_ID = "bootstrap"
LAST_USED_EVERY_S = 60.0  # write `last_used_at` at most this often per key (a write per request is waste)


class Scope(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


_RANK = {Scope.read: 1, Scope.write: 2, Scope.admin: 3}

_DDL = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    rate_per_minute INTEGER,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
)
"""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: an API key (never its token)."""

    key_id: str
    name: str
    scopes: frozenset[Scope]
    rate_per_minute: int | None = None

    def allows(self, needed: Scope | str) -> bool:
        needed = Scope(needed)
        return any(_RANK[s] >= _RANK[needed] for s in self.scopes)


@dataclass
class KeyInfo:
    id: str
    name: str
    scopes: list[str]
    rate_per_minute: int | None
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


@dataclass
class _CacheEntry:
    principal: Principal | None
    expires: float


@dataclass
class KeyRepo:
    db: StateDB
    cache_ttl_s: float = 5.0  # revocation takes effect within this many seconds in a running API
    _cache: dict[str, _CacheEntry] = field(default_factory=dict)
    _last_used: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.db.ensure_schema("api_keys", _DDL)

    # Management ----------------------------------------------------------------------------------
    def create(self, name: str, scopes: list[str], rate_per_minute: int | None = None) -> tuple[KeyInfo, str]:
        """Create a key; returns its info and the token (shown once, never stored)."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidInput("key name must be 1-100 characters")
        parsed = parse_scopes(scopes)
        if rate_per_minute is not None and rate_per_minute < 1:
            raise InvalidInput("rate_per_minute must be >= 1")
        key_id = "k" + secrets.token_hex(4)
        token = f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        now = _now()
        with self.db.write() as c:
            c.execute(
                "INSERT INTO api_keys(id, name, token_hash, scopes, rate_per_minute, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, name, hash_token(token), ",".join(sorted(parsed)), rate_per_minute, now),
            )
        return KeyInfo(key_id, name, sorted(parsed), rate_per_minute, now, None, None), token

    def ensure_bootstrap(self, token: str) -> None:
        """Install (or rotate) the bootstrap admin key from OPMON_ADMIN_KEY."""
        if len(token) < 16:
            raise InvalidInput("OPMON_ADMIN_KEY must be at least 16 characters")
        with self.db.write() as c:
            c.execute(
                "INSERT INTO api_keys(id, name, token_hash, scopes, created_at) VALUES (?, ?, ?, 'admin', ?) "
                "ON CONFLICT(id) DO UPDATE SET token_hash = excluded.token_hash, revoked_at = NULL",
                (BOOTSTRAP_ID, "bootstrap admin (OPMON_ADMIN_KEY)", hash_token(token), _now()),
            )
        self._cache.clear()

    def list(self, include_revoked: bool = True) -> list[KeyInfo]:
        sql = "SELECT * FROM api_keys" + ("" if include_revoked else " WHERE revoked_at IS NULL")
        return [_info(r) for r in self.db.read(sql + " ORDER BY created_at, id")]

    def revoke(self, key_id: str) -> KeyInfo:
        with self.db.write() as c:
            cur = c.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                            (_now(), key_id))
            if cur.rowcount == 0 and not c.execute("SELECT 1 FROM api_keys WHERE id = ?", (key_id,)).fetchone():
                raise NotFound(f"API key {key_id!r} does not exist")
        self._cache.clear()
        return _info(self.db.read("SELECT * FROM api_keys WHERE id = ?", (key_id,))[0])

    # Authentication ------------------------------------------------------------------------------
    def authenticate(self, token: str) -> Principal | None:
        """The principal for a presented token, or None (unknown or revoked)."""
        if not token or len(token) > 256:
            return None
        digest = hash_token(token)
        now = time.monotonic()
        entry = self._cache.get(digest)
        if entry is None or entry.expires < now:
            entry = _CacheEntry(self._lookup(digest), now + self.cache_ttl_s)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = entry
        if entry.principal is not None:
            self._touch(entry.principal.key_id, now)
        return entry.principal

    def _lookup(self, digest: str) -> Principal | None:
        rows = self.db.read("SELECT * FROM api_keys WHERE token_hash = ? AND revoked_at IS NULL", (digest,))
        if not rows or not hmac.compare_digest(rows[0]["token_hash"], digest):
            return None
        r = rows[0]
        return Principal(r["id"], r["name"], frozenset(parse_scopes(r["scopes"].split(","))),
                         r["rate_per_minute"])

    def _touch(self, key_id: str, now: float) -> None:
        if now - self._last_used.get(key_id, -1e9) < LAST_USED_EVERY_S:
            return
        self._last_used[key_id] = now
        with self.db.write() as c:
            c.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (_now(), key_id))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_scopes(scopes: list[str] | tuple[str, ...]) -> set[Scope]:
    out: set[Scope] = set()
    for s in scopes:
        for part in str(s).split(","):
            part = part.strip().lower()
            if not part:
                continue
            try:
                out.add(Scope(part))
            except ValueError:
                raise InvalidInput(f"unknown scope {part!r}; use read, write or admin") from None
    if not out:
        raise InvalidInput("a key needs at least one scope: read, write or admin")
    return out


def token_from_headers(authorization: str | None, x_api_key: str | None) -> str | None:
    """`Authorization: Bearer <token>` or `X-API-Key: <token>`."""
    if x_api_key:
        return x_api_key.strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


def _info(r) -> KeyInfo:
    return KeyInfo(r["id"], r["name"], r["scopes"].split(","), r["rate_per_minute"], r["created_at"],
                   r["last_used_at"], r["revoked_at"])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
