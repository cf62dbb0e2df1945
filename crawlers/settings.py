"""Scrapy settings, derived from the one typed `core.settings.Settings` (env prefix OPMON_).

Politeness defaults are conservative: real sites ban fast crawlers. Spiders tighten them further in
their `custom_settings` (Weibo: 1 request at a time per host, >= 3 s apart). Tests and benchmarks
against localhost override them on the command line (`-s DOWNLOAD_DELAY=0 ...`), which wins over
both this file and `custom_settings`.

Per-site cookies are the one crawler knob outside core Settings, because their names depend on
the site: OPMON_COOKIE_<SITE> or OPMON_COOKIE_FILE_<SITE> (crawlers/middlewares/cookies.py).
"""

from __future__ import annotations

from core.settings import get_settings

_s = get_settings()

BOT_NAME = "opmon"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"
COMMANDS_MODULE = "crawlers.commands"  # `scrapy crawl` exits 3 when the crawl ended blocked
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

# The sites' robots.txt disallow everything for unknown bots; we crawl public pages politely instead.
ROBOTSTXT_OBEY = False
# Scrapy's check for `return value` in generator callbacks misses its cache for every bound method, so
# it re-reads and parses the callback's source on every response: 0.3-0.35 ms per page, a quarter of a
# local fetch (docs/benchmarks.md, `## Crawl`). tests/crawlers/test_spider_callbacks.py runs the same
# check once over every spider instead.
WARN_ON_GENERATOR_RETURN_VALUE = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = _s.log_level.upper()
FEED_EXPORT_ENCODING = "utf-8"
USER_AGENT = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Mobile Safari/537.36")

# Politeness (conservative; per-site spiders tighten further)
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 2.0
RANDOMIZE_DOWNLOAD_DELAY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 3.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
# Items of one response processed in parallel. Scrapy starts this many worker tasks per response
# whatever the number of items; pages carry 10-50 mentions, so 100 (the default) is pure overhead.
CONCURRENT_ITEMS = 16
PAGE_LOOKAHEAD = _s.page_lookahead
OPMON_PROXIES = _s.proxies
OPMON_PROXY_FILE = str(_s.proxy_file) if _s.proxy_file else None
DIANPING_FONT_REFERENCE = str(_s.dianping_font_reference) if _s.dianping_font_reference else None

# Cookies are sent as an explicit header by SiteCookiesMiddleware; Scrapy's jar would add the
# cookies sites set on us and "pollute" the session (Weibo answers 432). Spiders may opt back in.
COOKIES_ENABLED = False

# Retries of transient failures. 418/429/432 and captcha pages are block signals, handled with a
# longer backoff by BlockDetectionMiddleware, so they are not in this list.
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]
BLOCK_RETRY_TIMES = 3
BLOCK_BACKOFF_BASE = 10.0
BLOCK_BACKOFF_MAX = 300.0
PROXY_MAX_FAILURES = 3
PROXY_BENCH_SECONDS = 600.0
REDIRECT_MAX_TIMES = 5

SPIDER_MIDDLEWARES = {
    "crawlers.middlewares.BaseUrlSpiderMiddleware": 950,
}
DOWNLOADER_MIDDLEWARES = {
    # before OffsiteMiddleware (50): offsite checks must see the rewritten host
    "crawlers.middlewares.BaseUrlDownloaderMiddleware": 40,
    # after decompression (590) and redirects (600), before RetryMiddleware (550)
    "crawlers.middlewares.BlockDetectionMiddleware": 585,
    # before RedirectMiddleware (600): a 302 to a login page or a redirect loop is a block signal
    "crawlers.middlewares.RedirectBlockDetectionMiddleware": 610,
    "crawlers.middlewares.SiteCookiesMiddleware": 690,
    # before HttpProxyMiddleware (750), which applies meta["proxy"]
    "crawlers.middlewares.ProxyRotationMiddleware": 740,
}
EXTENSIONS = {
    # with -s JOBDIR: resume only what Scrapy closed cleanly; one crawl per JOBDIR (crawlers/jobdir.py)
    "crawlers.jobdir.JobdirGuard": 100,
    "crawlers.extensions.CrawlOutcome": 500,
    "crawlers.extensions.GcTuning": 900,
}
GC_TUNING_ENABLED = True
GC_GEN0_THRESHOLD = 50_000  # allocations between young-generation collections (CPython default: 700)
ITEM_PIPELINES = {
    "crawlers.pipelines.ValidatePipeline": 100,
    "crawlers.pipelines.BrandPipeline": 200,
    "crawlers.pipelines.DedupePipeline": 300,
    "crawlers.pipelines.NlpPipeline": 400,
    "crawlers.pipelines.StorePipeline": 500,
}

# Pipeline knobs
NLP_BATCH_SIZE = _s.nlp_batch_size
NLP_ENABLED = _s.nlp_enabled
STORE_ENABLED = True
STORE_BATCH_SIZE = 500
STORE_RETRY_WAIT = 1.0  # seconds before the one retry of a failed store batch
STORE_WRITE_THREAD = "auto"  # auto: SQLite on the reactor, Elasticsearch on a thread (pipelines/store.py)
BATCH_MAX_WAIT = 1.0  # seconds an item may wait for its batch to fill (bounds loss on a crash)
BATCH_IDLE_FLUSH = 0.05  # flush early when no item arrived for this long (a page's items are all in)
NEARDUP_THRESHOLD = 0.7  # estimated Jaccard of character bigrams (crawlers/pipelines/neardup.py)
NEARDUP_MIN_CHARS = 12
DEDUPE_MAX_TRACKED = 200_000
DEDUPE_SEED_HOURS = 48  # near-duplicates of mentions stored in the last N hours are marked too (0 = off)
DEDUPE_SEED_MAX = 20_000  # at most this many stored mentions seed the index at the start of a crawl
CRAWL_SUMMARY_FILE = None  # path: write the outcome + stats as JSON at the end (used by tests, scheduler)

# Distributed crawling (scrapy-redis): one shared queue and dupefilter for several crawler hosts.
if _s.distributed:
    if not _s.redis_url:
        from core.errors import ConfigError

        raise ConfigError("OPMON_DISTRIBUTED=true needs OPMON_REDIS_URL (e.g. redis://localhost:6379/0)")
    SCHEDULER = "scrapy_redis.scheduler.Scheduler"
    DUPEFILTER_CLASS = "scrapy_redis.dupefilter.RFPDupeFilter"
    REDIS_URL = _s.redis_url
    # Keep the queue and seen-set between runs so that a restarted worker resumes, and several
    # workers share one crawl; `-s SCHEDULER_FLUSH_ON_START=1` starts a crawl afresh.
    SCHEDULER_PERSIST = True
    SCHEDULER_QUEUE_CLASS = "scrapy_redis.queue.PriorityQueue"
    SCHEDULER_IDLE_BEFORE_CLOSE = 10
