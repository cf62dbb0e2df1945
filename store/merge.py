"""How an update of a stored mention combines the stored copy with the incoming one (every backend).

A re-crawl replaces the mention, but keeps the enrichment the new copy does not carry: a crawler
re-fetching metrics must not wipe the sentiment scored earlier. `upsert(..., replace=...)` names the
enrichment fields that take the new copy's value even when it is empty (`opmon brands rematch`
clearing a wrong brand).
"""

from __future__ import annotations

from collections.abc import Collection

from core.errors import InvalidInput
from core.mention import Mention

ENRICHMENT = ("brands", "sentiment", "emotion", "keywords", "topics", "aspects", "dup_of", "lang")


def replace_fields(replace: Collection[str]) -> frozenset[str]:
    """`upsert(..., replace=)` checked: only enrichment fields can be replaced by an empty value."""
    if isinstance(replace, str):  # "brands" would otherwise read as the letters b, r, a, ...
        replace = (replace,)
    fields = frozenset(replace)
    unknown = sorted(fields - set(ENRICHMENT))
    if unknown:
        raise InvalidInput(f"replace: {', '.join(map(repr, unknown))} not enrichment field(s); "
                           f"expected some of {', '.join(ENRICHMENT)}")
    return fields


def merge(old: Mention, new: Mention, replace: Collection[str] = ()) -> Mention:
    """A re-crawl replaces the mention but keeps enrichment the new copy does not carry
    (a crawler re-fetching metrics must not wipe the sentiment scored earlier), except the
    fields in `replace` (checked by `replace_fields`), which take the new copy's value even
    when it is empty (a brand re-match that clears a wrong brand)."""
    keep = {f: getattr(old, f) for f in ENRICHMENT
            if f not in replace and getattr(new, f) in (None, []) and getattr(old, f)}
    return new.model_copy(update=keep) if keep else new
