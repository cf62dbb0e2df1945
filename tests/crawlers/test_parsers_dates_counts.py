"""Every documented date and count form (site-formats §1.2, §1.3, §3.1, §3.3)."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.errors import InvalidInput
from core.mention import SHANGHAI
from crawlers.parsing import clean_location, parse_cn_datetime, parse_count, parse_since

NOW = datetime(2026, 11, 22, 15, 30, 45, tzinfo=SHANGHAI)


@pytest.mark.parametrize(("text", "expected"), [
    ("Sat Nov 22 10:00:00 +0800 2025", datetime(2025, 11, 22, 10, 0, tzinfo=SHANGHAI)),
    ("Sat Jun 14 12:00:00 +0800 2025", datetime(2025, 6, 14, 12, 0, tzinfo=SHANGHAI)),
    ("Fri Nov 21 23:30:00 +0000 2025", datetime(2025, 11, 22, 7, 30, tzinfo=SHANGHAI)),  # other zone
    ("刚刚", NOW),
    ("30秒前", datetime(2026, 11, 22, 15, 30, 15, tzinfo=SHANGHAI)),
    ("5分钟前", datetime(2026, 11, 22, 15, 25, 45, tzinfo=SHANGHAI)),
    ("2小时前", datetime(2026, 11, 22, 13, 30, 45, tzinfo=SHANGHAI)),
    ("今天09:29", datetime(2026, 11, 22, 9, 29, tzinfo=SHANGHAI)),
    ("今天 12:26", datetime(2026, 11, 22, 12, 26, tzinfo=SHANGHAI)),
    ("昨天 10:00", datetime(2026, 11, 21, 10, 0, tzinfo=SHANGHAI)),
    ("昨天10:00", datetime(2026, 11, 21, 10, 0, tzinfo=SHANGHAI)),
    ("06-27", datetime(2026, 6, 27, tzinfo=SHANGHAI)),
    ("12-31", datetime(2025, 12, 31, tzinfo=SHANGHAI)),  # a year-less date is never in the future
    ("11月22日 10:00", datetime(2026, 11, 22, 10, 0, tzinfo=SHANGHAI)),
    ("2023年11月22日 10:00", datetime(2023, 11, 22, 10, 0, tzinfo=SHANGHAI)),
    ("2024-08-05 16:56", datetime(2024, 8, 5, 16, 56, tzinfo=SHANGHAI)),
    ("2024-8-6 22:11", datetime(2024, 8, 6, 22, 11, tzinfo=SHANGHAI)),
    ("2016-02-16 12:43:52", datetime(2016, 2, 16, 12, 43, 52, tzinfo=SHANGHAI)),
    ("发表于 2024-1-2 10:00", datetime(2024, 1, 2, 10, 0, tzinfo=SHANGHAI)),
    ("\u200b 今天09:29 \ue627", datetime(2026, 11, 22, 9, 29, tzinfo=SHANGHAI)),
    ("2025-11-22T02:00:00+00:00", datetime(2025, 11, 22, 10, 0, tzinfo=SHANGHAI)),
    (1763776800, datetime(2025, 11, 22, 10, 0, tzinfo=SHANGHAI)),
])
def test_every_documented_date_form(text, expected):
    got = parse_cn_datetime(text, now=NOW)
    assert got == expected
    assert got.tzinfo is not None and got.utcoffset().total_seconds() == 8 * 3600


@pytest.mark.parametrize("bad", ["", "下周", "Sat Foo 99 10:00:00 +0800 2025", "13月40日 10:00", None])
def test_unparseable_dates_raise_invalid_input(bad):
    with pytest.raises(InvalidInput):
        parse_cn_datetime(bad, now=NOW)


def test_since_argument():
    assert parse_since("2025-11-20") == datetime(2025, 11, 20, tzinfo=SHANGHAI)
    assert parse_since(None) is None
    with pytest.raises(InvalidInput, match="since="):
        parse_since("yesterday-ish")


@pytest.mark.parametrize(("value", "expected"), [
    (1234, 1234), ("1234", 1234), ("36.2万", 362_000), ("1.2亿", 120_000_000), ("100万+", 1_000_000),
    ("1,234", 1234), ("转发 12", 12), ("评论 3", 3), ("3.2万", 32_000), ("4.9万+", 49_000),
    ("1500+", 1500), ("2.5w", 25_000), ("转发", None), ("赞", None), (None, None), ("", None), (-1, None),
    (True, None), (3.0, 3),
])
def test_counts(value, expected):
    assert parse_count(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("发布于 上海", "上海"), ("来自北京", "北京"), ("IP属地:广东", "广东"), ("IP属地：广东", "广东"),
    ("北京", "北京"), ("发布于 ", None), (None, None),
])
def test_locations(value, expected):
    assert clean_location(value) == expected
