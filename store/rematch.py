"""Re-apply the brand rules to stored mentions (`opmon brands rematch`).

A mention's brands are decided when it is crawled or ingested. When analysts change a brand's
rules (an exclusion "小米粥" added to 小米, a new brand), the stored mentions do not follow, and a
re-crawl cannot remove a wrong brand either (an update keeps stored enrichment the new copy leaves
empty). This pass reads every stored mention in ingest order (`Store.iter_export`), runs the same
matcher as the crawl (core.brands.BrandMatcher) and writes back the mentions whose brands change,
with `upsert(..., replace={"brands"})` so that a brand can be cleared. Rollups and brand indexes
follow through the store's ordinary update path.

Only the brands in scope are decided here: new = (old - scope - remove) | (matched & scope). A
brand outside the scope, such as one a CEM system set through `POST /v1/mentions:batch` for a brand
we do not monitor, is left as it is, unless it is named in `remove` (the tags of a brand that is no
longer monitored: deleted or disabled). Running it twice changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.brands import Brand, BrandMatcher
from core.errors import InvalidInput
from core.mention import Mention
from store.base import Store

log = logging.getLogger(__name__)


@dataclass
class RematchResult:
    scanned: int = 0  # mentions in the published_at window whose brands were checked
    changed: int = 0  # of those, mentions whose brands changed (written back unless dry_run)
    added: Counter = field(default_factory=Counter)  # brand -> mentions that gained it
    removed: Counter = field(default_factory=Counter)  # brand -> mentions that lost it
    written: int = 0  # mentions written back (0 on a dry run)
    dry_run: bool = False
    scope: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"scanned": self.scanned, "changed": self.changed, "written": self.written,
                "dry_run": self.dry_run, "scope": self.scope,
                "added": dict(sorted(self.added.items())), "removed": dict(sorted(self.removed.items()))}


def resolve_scope(brands: Sequence[Brand], scope: Iterable[str] | None) -> list[str]:
    """The brand names to decide: all of `brands` by default; a name not among them is an
    InvalidInput that lists the ones there are."""
    names = [b.name for b in brands]
    if scope is None:
        return names
    wanted = list(dict.fromkeys(scope))
    unknown = [s for s in wanted if s not in names]
    if unknown:
        raise InvalidInput(f"not a monitored brand: {', '.join(unknown)} "
                           f"(monitored: {', '.join(names) or 'none'})")
    return wanted


def resolve_remove(brands: Sequence[Brand], remove: Iterable[str]) -> list[str]:
    """Brand names whose tags are to be stripped: none of them may be monitored (a monitored
    brand's tags follow its rules; to drop it, delete or disable it first)."""
    wanted = [r.strip() for r in dict.fromkeys(remove) if r.strip()]
    monitored = [r for r in wanted if r in {b.name for b in brands}]
    if monitored:
        raise InvalidInput(f"still monitored: {', '.join(monitored)}; its tags follow its rules "
                           "(delete or disable the brand first to strip them)")
    return wanted


def rematch_brands(store: Store, brands: Sequence[Brand], *, scope: Iterable[str] | None = None,
                   remove: Iterable[str] = (), since: datetime | None = None, until: datetime | None = None, batch: int = 1000,
                   dry_run: bool = False,
                   progress: Callable[[RematchResult], None] | None = None) -> RematchResult:
    """Bring the brands of the stored mentions published in [since, until) in line with `brands`'
    rules, for the brand names in `scope` (default: all of `brands`), and strip the names in
    `remove` (brands no longer monitored). `batch`: mentions read per
    export page and written per upsert. `progress` is called after each page read."""
    for what, dt in (("since", since), ("until", until)):
        if dt is not None and (dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None):
            raise InvalidInput(f"{what} must carry a time zone")
    if since is not None and until is not None and until <= since:
        raise InvalidInput("until must be after since")
    if not 1 <= batch <= 10_000:
        raise InvalidInput("batch must be between 1 and 10000")
    in_scope = resolve_scope(brands, scope)
    scoped = set(in_scope)
    stripped = set(resolve_remove(brands, remove))
    matcher = BrandMatcher([b for b in brands if b.name in scoped])
    result = RematchResult(dry_run=dry_run, scope=in_scope)
    pending: list[Mention] = []

    def flush() -> None:
        if pending and not dry_run:
            store.upsert(pending, replace={"brands"})
            result.written += len(pending)
        pending.clear()

    for page in store.iter_export(batch=batch):
        for m in page.items:
            if (since is not None and m.published_at < since) or (until is not None and m.published_at >= until):
                continue
            result.scanned += 1
            old = set(m.brands)
            new = (old - scoped - stripped) | set(matcher.match(m.title, m.text))
            if new == old:
                continue
            result.changed += 1
            result.added.update(new - old)
            result.removed.update(old - new)
            pending.append(m.model_copy(update={"brands": sorted(new)}))
            if len(pending) >= batch:
                flush()
        if progress is not None:
            progress(result)
    flush()
    log.info("brand rematch: %d scanned, %d changed, %d written%s", result.scanned, result.changed,
             result.written, " (dry run)" if dry_run else "")
    return result
