"""Counts as the sites print them: 1234, "1234", "36.2万", "1.2亿", "100万+", "1,234", "转发 12"."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_UNITS = {"万": 10_000, "w": 10_000, "W": 10_000, "亿": 100_000_000, "千": 1_000, "k": 1_000, "K": 1_000}
_NUMBER = re.compile(r"(\d+(?:,\d{3})*(?:\.\d+)?)\s*([万亿千wWkK]?)")


def parse_count(value: object) -> int | None:
    """The integer a count stands for, or None when there is no number (e.g. "转发" with no count).

    Decimal arithmetic keeps "36.2万" at exactly 362000 (float would give 361999.99...).
    A trailing "+" ("100万+") is a lower bound; we keep the bound.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value >= 0 else None
    m = _NUMBER.search(str(value))
    if not m:
        return None
    try:
        number = Decimal(m.group(1).replace(",", ""))
    except InvalidOperation:
        return None
    return int(number * _UNITS.get(m.group(2), 1))
