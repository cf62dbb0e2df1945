"""Time buckets shared by both backends: aligned in an IANA time zone, weeks start on Monday.

A trend covers every bucket that intersects [since, until), and each bucket is counted whole, so a
chart never shows a half-counted first day. Both backends use these helpers to decide which
buckets exist, so zero-filling is identical.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import InvalidInput

MAX_BUCKETS = 50_000
US = 1_000_000
HOUR_US = 3600 * US
FIVE_MIN_US = 300 * US
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)


def resolve_tz(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise InvalidInput(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)") from exc


def aware(dt: datetime, what: str = "time") -> datetime:
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise InvalidInput(f"{what} must carry a time zone")
    return dt


def to_us(dt: datetime) -> int:
    """Epoch microseconds (exact, unlike float timestamps)."""
    try:
        return (dt - EPOCH) // ONE_US
    except TypeError as exc:  # naive minus aware
        raise InvalidInput("time must carry a time zone") from exc


def from_us(us: int, tz=UTC) -> datetime:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)).astimezone(tz)


def _local_midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz)


def floor(dt: datetime, interval: str, tz: ZoneInfo) -> datetime:
    local = aware(dt).astimezone(tz)
    if interval == "5min":
        return from_us(to_us(dt) // FIVE_MIN_US * FIVE_MIN_US, tz)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    if interval == "day":
        return _local_midnight(local.date(), tz)
    if interval == "week":
        return _local_midnight(local.date() - timedelta(days=local.weekday()), tz)
    raise InvalidInput(f"unknown interval {interval!r} (5min, hour, day or week)")


def next_start(start: datetime, interval: str, tz: ZoneInfo) -> datetime:
    if interval in ("5min", "hour"):
        step = timedelta(minutes=5) if interval == "5min" else timedelta(hours=1)
        # Absolute time: an hour bucket is an hour long even across a DST change.
        nxt = floor(start.astimezone(UTC) + step, interval, tz)
        if to_us(nxt) <= to_us(start):  # absolute times: same-zone comparison ignores `fold`
            # A half-hour DST shift (Australia/Lord_Howe) can floor back onto this bucket's own
            # start: the next bucket then starts one step later in absolute time.
            nxt = (start.astimezone(UTC) + step).astimezone(tz)
        return nxt
    days = 1 if interval == "day" else 7
    return _local_midnight(start.astimezone(tz).date() + timedelta(days=days), tz)


def bucket_starts(since: datetime, until: datetime, interval: str, tz: ZoneInfo) -> tuple[list[datetime], datetime]:
    """Starts of the buckets intersecting [since, until), and the end of the last one."""
    aware(since, "since")
    aware(until, "until")
    if until <= since:
        raise InvalidInput("until must be after since")
    first = floor(since, interval, tz)
    if interval in ("5min", "hour"):
        fast = _uniform_starts(first, until, interval, tz)
        if fast is not None:
            return fast
    starts = []
    cur = first
    while cur < until:
        starts.append(cur)
        if len(starts) > MAX_BUCKETS:
            raise InvalidInput(f"too many buckets (more than {MAX_BUCKETS}); use a coarser interval")
        cur = next_start(cur, interval, tz)
    return starts, cur


def _uniform_starts(first: datetime, until: datetime, interval: str, tz: ZoneInfo
                    ) -> tuple[list[datetime], datetime] | None:
    """The loop above, by arithmetic, for 5-minute and hour buckets (a 30-day hourly trend has 720
    buckets; the loop costs ~3 ms). Each next start is the previous one plus the step unless a
    time-zone change moves local hours off the step (a half-hour DST shift): then every computed
    start would not be its own floor, and None sends the caller back to the loop."""
    step_us = FIVE_MIN_US if interval == "5min" else HOUR_US
    f_us, u_us = to_us(first), to_us(until)
    if f_us % US:
        return None
    n = -(-(u_us - f_us) // step_us)
    if n > MAX_BUCKETS:
        raise InvalidInput(f"too many buckets (more than {MAX_BUCKETS}); use a coarser interval")
    f_s, step_s = f_us // US, step_us // US
    grid = [datetime.fromtimestamp(f_s + k * step_s, tz) for k in range(n + 1)]
    if interval == "hour" and any(g.minute or g.second for g in grid):
        return None
    return grid[:n], grid[n]
