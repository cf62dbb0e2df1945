"""Dates in every form Chinese sites print them, as timezone-aware datetimes in Asia/Shanghai.

Relative forms (刚刚, 5分钟前, 今天 12:26, 昨天 10:00, 06-27, 11月22日 10:00) are resolved against
`now` (default: the current time in Shanghai). A year-less date that would land in the future is in
the previous year (a post from "12-31" read on 1 January).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from email.utils import parsedate_to_datetime

from core.errors import InvalidInput
from core.mention import SHANGHAI

_CLEAN = re.compile(r"[\u200b\ue627\xa0]")
_AGO = re.compile(r"^(\d+)\s*(秒|分钟|分|小时|天)前$")
_TODAY = re.compile(r"^今天\s*(\d{1,2}):(\d{2})$")
_YESTERDAY = re.compile(r"^昨天\s*(\d{1,2}):(\d{2})$")
_BEFORE_YESTERDAY = re.compile(r"^前天\s*(\d{1,2}):(\d{2})$")
_MD = re.compile(r"^(\d{1,2})-(\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?$")
_MD_CN = re.compile(r"^(\d{1,2})月(\d{1,2})日\s*(?:(\d{1,2}):(\d{2}))?$")
_YMD_CN = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日\s*(?:(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_YMD = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_HM = re.compile(r"^(\d{1,2}):(\d{2})$")
_RFC_WEIBO = re.compile(r"^[A-Z][a-z]{2} ([A-Z][a-z]{2}) (\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2}) (\d{4})$")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_AGO_UNITS = {"秒": "seconds", "分钟": "minutes", "分": "minutes", "小时": "hours", "天": "days"}


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)


def _at(d: date, hh: str | None = None, mm: str | None = None, ss: str | None = None) -> datetime:
    return datetime.combine(d, time(int(hh or 0), int(mm or 0), int(ss or 0)), tzinfo=SHANGHAI)


def _yearless(now: datetime, month: int, day: int, hh: str | None, mm: str | None) -> datetime:
    dt = _at(date(now.year, month, day), hh, mm)
    return dt.replace(year=now.year - 1) if dt > now + timedelta(days=1) else dt


def parse_cn_datetime(text: object, now: datetime | None = None) -> datetime:
    """Parse one date string; raises InvalidInput naming the text when no form matches.

    Forms: RFC-2822-like `Sat Nov 22 10:00:00 +0800 2025` (m.weibo.cn), ISO 8601, epoch seconds,
    刚刚, N秒前, N分钟前, N小时前, N天前, 今天HH:MM, 今天 HH:MM, 昨天 HH:MM, 前天 HH:MM, MM-DD,
    MM-DD HH:MM, MM月DD日 HH:MM, YYYY年MM月DD日 HH:MM, YYYY-MM-DD[ HH:MM[:SS]], YYYY-M-D H:MM, HH:MM.
    """
    if isinstance(text, datetime):
        return text.astimezone(SHANGHAI) if text.tzinfo else text.replace(tzinfo=SHANGHAI)
    if isinstance(text, int | float) and not isinstance(text, bool):
        return datetime.fromtimestamp(text, SHANGHAI)
    raw = str(text or "")
    if m := _RFC_WEIBO.match(raw):  # m.weibo.cn's everyday form, first: the hot path
        mon = _MONTHS.get(m[1])
        if mon:
            try:
                offset = timedelta(hours=int(m[7]), minutes=int(m[8])) * (1 if m[6] == "+" else -1)
                dt = datetime(int(m[9]), mon, int(m[2]), int(m[3]), int(m[4]), int(m[5]),
                              tzinfo=timezone(offset))
                return dt.astimezone(SHANGHAI)
            except ValueError as exc:
                raise InvalidInput(f"unrecognised date {raw!r}") from exc
    s = _CLEAN.sub(" ", raw).strip()
    s = re.sub(r"^(发布于|发表于|发表时间[:：]?)\s*", "", s)
    s = re.sub(r"\s+", " ", s)
    if not s:
        raise InvalidInput("empty date")
    n = _now(now)
    try:
        if s == "刚刚":
            return n
        if m := _AGO.match(s):
            return n - timedelta(**{_AGO_UNITS[m.group(2)]: int(m.group(1))})
        if m := _TODAY.match(s):
            return _at(n.date(), m.group(1), m.group(2))
        if m := _YESTERDAY.match(s):
            return _at(n.date() - timedelta(days=1), m.group(1), m.group(2))
        if m := _BEFORE_YESTERDAY.match(s):
            return _at(n.date() - timedelta(days=2), m.group(1), m.group(2))
        if m := _YMD_CN.match(s):
            return _at(date(int(m[1]), int(m[2]), int(m[3])), m[4], m[5], m[6])
        if m := _YMD.match(s):
            return _at(date(int(m[1]), int(m[2]), int(m[3])), m[4], m[5], m[6])
        if m := _MD_CN.match(s):
            return _yearless(n, int(m[1]), int(m[2]), m[3], m[4])
        if m := _MD.match(s):
            return _yearless(n, int(m[1]), int(m[2]), m[3], m[4])
        if m := _HM.match(s):
            return _at(n.date(), m[1], m[2])
        if s.isdigit() and len(s) in (10, 13):
            return datetime.fromtimestamp(int(s[:10]), SHANGHAI)
        if re.match(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{1,2} \d{2}:\d{2}:\d{2} [+-]\d{4} \d{4}$", s):
            # m.weibo.cn: "Sat Nov 22 10:00:00 +0800 2025" (strptime %a/%b depend on the C locale).
            wd, mon, day, hms, tz, year = s.split()
            return parsedate_to_datetime(f"{wd}, {day} {mon} {year} {hms} {tz}").astimezone(SHANGHAI)
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            dt = parsedate_to_datetime(s)  # RFC 2822 proper ("Sat, 22 Nov 2025 10:00:00 +0800")
        return dt.astimezone(SHANGHAI) if dt.tzinfo else dt.replace(tzinfo=SHANGHAI)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"unrecognised date {raw!r}") from exc


def parse_since(value: str | None) -> datetime | None:
    """`-a since=` argument: YYYY-MM-DD, YYYY-MM-DD HH:MM or ISO 8601; Shanghai unless it says otherwise."""
    if value in (None, ""):
        return None
    try:
        return parse_cn_datetime(str(value).strip())
    except InvalidInput as exc:
        raise InvalidInput(f"since={value!r} is not a date (use YYYY-MM-DD)") from exc
