"""Opaque pagination cursors: URL-safe base64 of a small JSON list, tagged with what it is for.

Clients must treat a cursor as opaque; a cursor from one query kind (search by newest, search by
engagement, export) is rejected by another, and anything malformed is `InvalidInput`, never a
500 or a silently restarted scan.
"""

from __future__ import annotations

import base64
import binascii
import json

from core.errors import InvalidInput

VERSION = 1


def encode(kind: str, values: list) -> str:
    raw = json.dumps([VERSION, kind, values], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode(token: str, kind: str, arity: int | None = None) -> list:
    """The values encoded in `token`; InvalidInput unless it is a well-formed `kind` cursor."""
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise InvalidInput("malformed cursor")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        version, got_kind, values = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, TypeError) as exc:
        raise InvalidInput("malformed cursor") from exc
    if version != VERSION or not isinstance(values, list):
        raise InvalidInput("malformed cursor")
    if got_kind != kind:
        raise InvalidInput(f"cursor is for a different query ({got_kind!r}, expected {kind!r})")
    if arity is not None and len(values) != arity:
        raise InvalidInput("malformed cursor")
    return values
