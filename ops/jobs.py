"""Crawl jobs: what to crawl for the monitored brands, and each job's state in the state DB.

A job is one spider with one set of arguments (`weibo` + keyword 小米, `jd` + product 100012043978).
Two brands that watch the same thing share one job. Job state (last run, next due, last outcome,
consecutive blocks, backoff) lives in the `ops_jobs` table of the state DB, so a restarted
scheduler carries on where it stopped instead of re-crawling everything at once.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from core.brands import Brand
from store.sqlite_db import StateDB

# Sources whose spider takes the brand's keywords; the others need explicit targets.
KEYWORD_SPIDERS = {"weibo", "weibo_search"}
TARGET_ARG = {"jd": "product_id", "dianping": "shop_id", "tieba": "forum"}
BUILTIN_SPIDERS = {"weibo", "weibo_search", "tieba", "discuz", "jd", "dianping"}

_DDL = """
CREATE TABLE IF NOT EXISTS ops_jobs (
    key TEXT PRIMARY KEY,
    spider TEXT NOT NULL,
    args TEXT NOT NULL,
    site TEXT NOT NULL,
    brands TEXT NOT NULL,
    interval_s REAL NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    next_due REAL,
    running_since REAL,
    last_started REAL,
    last_finished REAL,
    last_success REAL,
    last_outcome TEXT,
    last_reason TEXT,
    last_items INTEGER,
    last_detail TEXT,
    runs INTEGER NOT NULL DEFAULT 0,
    consecutive_blocked INTEGER NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    backoff_until REAL
);
CREATE INDEX IF NOT EXISTS ops_jobs_due ON ops_jobs(active, next_due)
"""


@dataclass(frozen=True)
class JobSpec:
    """What to run: spider + arguments. `site` groups jobs for the per-site concurrency cap."""

    spider: str
    args: tuple[tuple[str, str], ...]
    site: str
    brands: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.spider + ":" + "&".join(f"{k}={v}" for k, v in self.args)

    def slug(self) -> str:
        """A file-name-safe id (JOBDIR, log file names)."""
        return f"{self.spider}-{hashlib.sha1(self.key.encode()).hexdigest()[:12]}"


@dataclass
class JobState:
    spec: JobSpec
    interval_s: float
    active: bool = True
    next_due: float | None = None
    running_since: float | None = None
    last_started: float | None = None
    last_finished: float | None = None
    last_success: float | None = None
    last_outcome: str | None = None
    last_reason: str | None = None
    last_items: int | None = None
    last_detail: str | None = None
    runs: int = 0
    consecutive_blocked: int = 0
    consecutive_failures: int = 0
    backoff_until: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.spec.key


def _discuz_site(board: str) -> str:
    return urlsplit(board).hostname or board


def plan_jobs(brands: Iterable[Brand]) -> list[JobSpec]:
    """Every (spider, arguments) the enabled brands ask for, each once, brands merged."""
    wanted: dict[tuple, tuple[JobSpec, list[str]]] = {}

    def add(spider: str, args: dict[str, str], site: str, brand: str) -> None:
        spec = JobSpec(spider, tuple(sorted(args.items())), site)
        entry = wanted.setdefault((spec.spider, spec.args), (spec, []))
        if brand not in entry[1]:
            entry[1].append(brand)

    for brand in brands:
        if not brand.enabled:
            continue
        terms = brand.keywords or [brand.name]
        for source in brand.sources:
            targets = brand.targets.get(source, [])
            if source in KEYWORD_SPIDERS:
                for kw in targets or terms:
                    add(source, {"keyword": kw}, source, brand.name)
            elif source == "tieba":
                for forum in targets:
                    add("tieba", {"forum": forum}, "tieba", brand.name)
                if not targets:
                    for kw in terms:
                        add("tieba", {"keyword": kw}, "tieba", brand.name)
            elif source == "discuz":
                for board in targets:
                    base, _, fid = board.partition("|")
                    if base and fid:
                        # `site` pins mention ids to the board's own host, also when crawled from a mirror
                        site = _discuz_site(base)
                        add("discuz", {"base_url": base, "fid": fid, "site": site}, f"discuz:{site}", brand.name)
            elif source in TARGET_ARG:
                for t in targets:
                    add(source, {TARGET_ARG[source]: t}, source, brand.name)
            else:
                # A config-driven site: `sites/<name>.yaml`, crawled by the `site` spider.
                add("site", {"config": f"sites/{source}.yaml"}, f"site:{source}", brand.name)
    return [JobSpec(s.spider, s.args, s.site, tuple(b)) for s, b in wanted.values()]


class JobStore:
    """Job rows in the state DB."""

    def __init__(self, db: StateDB):
        self.db = db
        db.ensure_schema("ops_jobs", _DDL)

    # Plan ------------------------------------------------------------------------------------
    def sync(self, specs: list[JobSpec], interval_for, now: float, rng: random.Random) -> None:
        """Add new jobs (first run spread over the first interval's jitter), refresh brands and
        intervals of known ones, deactivate jobs no brand asks for any more (their history stays)."""
        keys = {s.key for s in specs}
        with self.db.write() as c:
            existing = {r["key"]: r for r in c.execute("SELECT key, active FROM ops_jobs").fetchall()}
            for s in specs:
                interval = float(interval_for(s.spider))
                if s.key in existing:
                    c.execute(
                        "UPDATE ops_jobs SET brands = ?, interval_s = ?, site = ?, active = 1, "
                        "next_due = COALESCE(next_due, ?) WHERE key = ?",
                        (json.dumps(list(s.brands), ensure_ascii=False), interval, s.site, now, s.key),
                    )
                else:
                    # New jobs are due now, spread a little so a big brands.yaml does not stampede.
                    c.execute(
                        "INSERT INTO ops_jobs(key, spider, args, site, brands, interval_s, next_due) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (s.key, s.spider, json.dumps(s.args, ensure_ascii=False), s.site,
                         json.dumps(list(s.brands), ensure_ascii=False), interval,
                         now + rng.uniform(0, min(5.0, interval * 0.01))),
                    )
            for key, row in existing.items():
                if key not in keys and row["active"]:
                    c.execute("UPDATE ops_jobs SET active = 0 WHERE key = ?", (key,))

    # Reads -----------------------------------------------------------------------------------
    def all(self, active_only: bool = True) -> list[JobState]:
        sql = "SELECT * FROM ops_jobs" + (" WHERE active = 1" if active_only else "") + " ORDER BY key"
        return [self._row(r) for r in self.db.read(sql)]

    def get(self, key: str) -> JobState | None:
        rows = self.db.read("SELECT * FROM ops_jobs WHERE key = ?", (key,))
        return self._row(rows[0]) if rows else None

    def due(self, now: float) -> list[JobState]:
        rows = self.db.read(
            "SELECT * FROM ops_jobs WHERE active = 1 AND running_since IS NULL AND next_due <= ? "
            "ORDER BY next_due, key", (now,),
        )
        return [self._row(r) for r in rows]

    # Writes ----------------------------------------------------------------------------------
    def mark_started(self, key: str, now: float) -> None:
        with self.db.write() as c:
            c.execute("UPDATE ops_jobs SET running_since = ?, last_started = ? WHERE key = ?", (now, now, key))

    def clear_running(self) -> int:
        """At start-up: crawls a previous scheduler left 'running' died with it; make them due."""
        with self.db.write() as c:
            return c.execute(
                "UPDATE ops_jobs SET running_since = NULL, next_due = MIN(COALESCE(next_due, 0), "
                "COALESCE(running_since, 0)) WHERE running_since IS NOT NULL"
            ).rowcount

    def save(self, job: JobState) -> None:
        with self.db.write() as c:
            c.execute(
                "UPDATE ops_jobs SET next_due = ?, running_since = ?, last_finished = ?, last_success = ?, "
                "last_outcome = ?, last_reason = ?, last_items = ?, last_detail = ?, runs = ?, "
                "consecutive_blocked = ?, consecutive_failures = ?, backoff_until = ? WHERE key = ?",
                (job.next_due, job.running_since, job.last_finished, job.last_success, job.last_outcome,
                 job.last_reason, job.last_items, job.last_detail, job.runs, job.consecutive_blocked,
                 job.consecutive_failures, job.backoff_until, job.key),
            )

    @staticmethod
    def _row(r) -> JobState:
        spec = JobSpec(r["spider"], tuple(tuple(a) for a in json.loads(r["args"])), r["site"],
                       tuple(json.loads(r["brands"])))
        return JobState(
            spec=spec, interval_s=r["interval_s"], active=bool(r["active"]), next_due=r["next_due"],
            running_since=r["running_since"], last_started=r["last_started"],
            last_finished=r["last_finished"], last_success=r["last_success"],
            last_outcome=r["last_outcome"], last_reason=r["last_reason"], last_items=r["last_items"],
            last_detail=r["last_detail"], runs=r["runs"], consecutive_blocked=r["consecutive_blocked"],
            consecutive_failures=r["consecutive_failures"], backoff_until=r["backoff_until"],
        )
