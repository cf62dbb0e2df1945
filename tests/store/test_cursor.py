from __future__ import annotations

import pytest

from core.errors import InvalidInput
from store import cursor


def test_round_trip_keeps_values_and_is_url_safe():
    tok = cursor.encode("newest", [1793462400000000, "weibo:小米/1"])
    assert cursor.decode(tok, "newest", 2) == [1793462400000000, "weibo:小米/1"]
    assert all(c.isalnum() or c in "-_" for c in tok)


@pytest.mark.parametrize("tok", ["", "!!!", "abc", "e30", cursor.encode("newest", [1])[:-3] + "zzz",
                                 "W10", "WzIsIm5ld2VzdCIsW11d", "x" * 5000])
def test_malformed_tokens_are_invalid_input(tok):
    with pytest.raises(InvalidInput):
        cursor.decode(tok, "newest", 2)


def test_wrong_kind_or_arity_is_rejected():
    tok = cursor.encode("export", [5])
    with pytest.raises(InvalidInput, match="different query"):
        cursor.decode(tok, "newest")
    with pytest.raises(InvalidInput):
        cursor.decode(tok, "export", 2)
