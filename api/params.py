"""Query-parameter parsing shared by the routes: times, windows, lists, time zones.

Times are forgiving where that is safe and strict where it matters:
- ISO 8601 with an offset (`2026-11-21T08:00:00+08:00`, `...Z`), a date (`2026-11-21`, midnight), or
  a naive time, which is read in the service's time zone (Asia/Shanghai by default), because analysts
  in China type local times.
- A `+` that arrived as a space (an unencoded `+08:00` in a query string) is repaired.
- Years outside 1970-2100 are rejected rather than overflowing a backend.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import InvalidInput

_SPACE_OFFSET = re.compile(r"^(.*T?\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")
MIN_YEAR, MAX_YEAR = 1970, 2100
MAX_LIST = 20
_NAME = re.compile(r"^[^\x00-\x1f]{1,64}$")


def parse_time(value: str | None, name: str, tz: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    raw = value.strip()
    if not raw:
        return None
    if len(raw) > 40:
        raise InvalidInput(f"{name}: {raw[:40]!r}... is not a time")
    m = _SPACE_OFFSET.match(raw)
    if m:
        raw = f"{m.group(1)}+{m.group(2)}"
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(
            f"{name}: {value!r} is not an ISO 8601 time (e.g. 2026-11-21T08:00:00+08:00 or 2026-11-21)"
        ) from None
    if not MIN_YEAR <= dt.year <= MAX_YEAR:
        raise InvalidInput(f"{name}: year {dt.year} is outside {MIN_YEAR}-{MAX_YEAR}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        dt = dt.replace(tzinfo=tz)
    return dt


def window(since: str | None, until: str | None, tz: ZoneInfo, *, default: timedelta | None,
           max_span: timedelta | None = None) -> tuple[datetime | None, datetime | None]:
    """Parse since/until; default until = now and since = until - default (when default is given)."""
    s = parse_time(since, "since", tz)
    u = parse_time(until, "until", tz)
    if default is not None:
        u = u or datetime.now(UTC).astimezone(tz)
        s = s or (u - default)
    if s is not None and u is not None:
        if u <= s:
            raise InvalidInput(f"until ({u.isoformat()}) must be after since ({s.isoformat()})")
        if max_span is not None and u - s > max_span:
            raise InvalidInput(f"the window {u - s} is longer than the maximum {max_span} for this query")
    return s, u


def zone(name: str) -> ZoneInfo:
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        raise InvalidInput(f"tz: {name[:64]!r} is not an IANA time zone (e.g. Asia/Shanghai, UTC)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(f"tz: {name!r} is not an IANA time zone (e.g. Asia/Shanghai, UTC)") from None


def names(values: list[str], what: str) -> list[str]:
    """Deduplicated, stripped names (brands, sources); commas also split, so ?brand=a,b works."""
    out: dict[str, None] = {}
    for v in values:
        for part in v.split(","):
            part = part.strip()
            if not part:
                continue
            if not _NAME.match(part):
                raise InvalidInput(f"{what}: {part[:64]!r} is not a valid name (1-64 characters, no control chars)")
            out.setdefault(part, None)
    if len(out) > MAX_LIST:
        raise InvalidInput(f"{what}: at most {MAX_LIST} values")
    return list(out)


def text_query(q: str | None) -> str | None:
    if q is None:
        return None
    q = "".join(ch for ch in q if ch >= " " or ch in "\t").strip()
    return q or None
