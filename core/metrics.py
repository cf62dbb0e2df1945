"""Prometheus metrics shared by crawlers, pipelines, NLP, store, alerts and delivery.

Every process exposes the default registry: the API on /metrics, the scheduler on its own port.
Crawler subprocesses report through Scrapy stats, which the scheduler turns into these metrics.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PAGES = Counter("opmon_pages_total", "Pages fetched by spiders", ["spider", "status"])
ITEMS = Counter("opmon_items_total", "Mentions emitted by spiders", ["spider"])
ITEMS_DROPPED = Counter("opmon_items_dropped_total", "Mentions dropped by pipelines", ["stage", "reason"])
CRAWLS = Counter("opmon_crawls_total", "Finished crawls by outcome", ["spider", "outcome"])
CRAWLS_BLOCKED = Counter("opmon_crawls_blocked_total", "Crawls that ended blocked", ["spider", "signal"])
STAGE_LATENCY = Histogram(
    "opmon_pipeline_stage_seconds", "Time spent per pipeline stage call", ["stage"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
)
NLP_TEXTS = Counter("opmon_nlp_texts_total", "Texts scored by the NLP model", ["model"])
NLP_SECONDS = Counter("opmon_nlp_seconds_total", "Seconds spent scoring texts", ["model"])
STORE_WRITES = Counter("opmon_store_writes_total", "Mentions written to the store", ["backend", "op"])
ALERTS_OPENED = Counter("opmon_alerts_opened_total", "Alerts opened", ["kind"])
WEBHOOK_DELIVERIES = Counter("opmon_webhook_deliveries_total", "Webhook delivery attempts", ["outcome"])
WEBHOOK_FAILURES = Counter("opmon_webhook_failures_total", "Failed webhook delivery attempts", ["reason"])
RATELIMIT_FALLBACK = Counter("opmon_ratelimit_fallback_total",
                             "Requests rate-limited per process because Redis was unreachable")
OUTBOX_PENDING = Gauge("opmon_outbox_pending", "Webhook deliveries waiting in the outbox")
