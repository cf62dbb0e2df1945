"""`opmon scheduler`, `opmon replay` and `opmon demo`."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click

log = logging.getLogger("ops")


def _parse_base_urls(values: tuple[str, ...]) -> dict[str, str]:
    """`URL` (every spider) or `SPIDER=URL` / `SITE=URL`."""
    out: dict[str, str] = {}
    for v in values:
        name, sep, url = v.partition("=")
        if sep and not name.startswith("http"):
            out[name] = url
        else:
            out["*"] = v
    for name, url in out.items():
        if not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{name}: {url!r} is not an http(s) URL", param_hint="--base-url")
    return out


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum, frame):
        log.info("signal %s: stopping (running crawls are interrupted and resume next time)", signum)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def build_scheduler(settings, *, brands_file: Path | None = None, base_urls: dict[str, str] | None = None,
                    dispatch: str = "local", alerts: bool = True, webhooks: bool = True, store=None,
                    extra_settings: dict[str, str] | None = None):
    """The scheduler wired to this deployment's state DB, brands, alert channel and runner."""
    from core.brands import BrandRepo
    from ops.brandseed import seed_brands
    from ops.config import ScheduleConfig, load_schedule_yaml
    from ops.crawl import SubprocessRunner
    from ops.jobs import JobStore
    from ops.notify import BlockedNotifier
    from ops.scheduler import PeriodicTask, Scheduler
    from store.sqlite_db import StateDB

    state = StateDB(settings.state_db)
    brands_file = Path(brands_file or settings.brands_file)
    if brands_file.exists():
        seed_brands(state, brands_file)
        config = load_schedule_yaml(brands_file)
    else:
        log.warning("no brands file at %s: crawling the brands already in the state DB", brands_file)
        config = ScheduleConfig()
    repo = BrandRepo(state)
    work_dir = Path(settings.data_dir) / "crawls"
    if dispatch == "redis":
        from ops.dispatch import RedisDispatchRunner

        runner = RedisDispatchRunner.from_settings(settings, base_urls=base_urls or {},
                                                   timeout_s=config.crawl_timeout)
    else:
        runner = SubprocessRunner(work_dir, base_urls=base_urls or {}, extra_settings=extra_settings,
                                  use_jobdir=not settings.distributed, timeout_s=config.crawl_timeout)
    sched = Scheduler(jobs=JobStore(state), runner=runner, config=config,
                      brands=lambda: repo.list(enabled_only=True))
    notifier = BlockedNotifier(state, settings)
    sched.on_blocked.append(notifier)
    sched.on_recovered.append(notifier.recovered)
    if webhooks:
        from ops.tasks import webhook_pass

        sched.tasks.append(PeriodicTask("webhooks", config.webhooks_every, webhook_pass(state, settings)))
    if alerts:
        try:
            from ops.tasks import alert_pass

            if store is None:
                from store.factory import open_store

                store = open_store(settings)
            sched.tasks.append(PeriodicTask("alerts", config.alerts_every, alert_pass(state, store, settings)))
        except ImportError as exc:
            log.warning("alert monitor not available (%s): crawling without spike detection", exc)
    return sched


@click.command()
@click.option("--brands", "brands_file", type=click.Path(path_type=Path), default=None,
              help="brands.yaml to seed from (default: OPMON_BRANDS_FILE, ./brands.yaml)")
@click.option("--once", is_flag=True, help="crawl every job once, wait for them, run the alert and webhook "
              "passes, and exit")
@click.option("--metrics-port", type=int, default=9108, show_default=True,
              help="serve Prometheus /metrics on this port (0 = off)")
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
@click.option("--base-url", "base_urls", multiple=True, metavar="[SPIDER=]URL",
              help="point spiders at a mirror or replay site (repeatable)")
@click.option("--dispatch", type=click.Choice(["local", "redis"]), default="local", show_default=True,
              help="run crawls here, or queue them in Redis for `--worker` processes")
@click.option("--worker", is_flag=True, help="be a crawler worker: run crawl jobs queued in Redis")
@click.option("--crawl-setting", "crawl_settings", multiple=True, metavar="NAME=VALUE",
              help="Scrapy setting for every crawl, like `scrapy crawl -s` (repeatable)")
@click.option("--no-alerts", is_flag=True, help="do not run the alert monitor pass")
@click.option("--no-webhooks", is_flag=True, help="do not deliver webhooks (the API does it too)")
def scheduler(brands_file, once, metrics_port, metrics_host, base_urls, dispatch, worker, crawl_settings,
              no_alerts, no_webhooks):
    """Keep the monitored brands' sources crawled: intervals with jitter, per-site caps, backoff on
    blocks, the alert monitor and webhook delivery. Job state lives in the state DB."""
    from core.settings import get_settings

    settings = get_settings()
    extra = {}
    for item in crawl_settings:
        name, sep, value = item.partition("=")
        if not sep or not name.isupper():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--crawl-setting")
        extra[name] = value
    stop = threading.Event()
    _stop_on_signals(stop)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host)
        log.info("scheduler metrics on http://%s:%d/metrics", metrics_host, metrics_port)
    if worker:
        from ops.dispatch import run_worker

        run_worker(settings, stop, base_urls=_parse_base_urls(base_urls), extra_settings=extra)
        return
    sched = build_scheduler(settings, brands_file=brands_file, base_urls=_parse_base_urls(base_urls),
                            dispatch=dispatch, alerts=not no_alerts, webhooks=not no_webhooks, extra_settings=extra)
    if once:
        results = sched.run_round(deadline_s=sched.config.crawl_timeout, stop=stop)
        for task in sched.tasks:
            task.next_at = 0
        sched.run_tasks()
        for job, r in results:
            click.echo(f"{r.outcome:<11} {job.key}  items={r.items} pages={r.pages}"
                       + (f" signal={r.signal}" if r.signal else ""))
        raise SystemExit(0 if all(r.outcome == "finished" for _, r in results) else 1)
    log.info("scheduler started")
    sched.run(stop)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8900, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True, help="content generator seed")
def replay(host, port, seed):
    """Serve the bundled replay site: every source's pages, in the real formats, for two demo brands."""
    from ops.replay.server import ReplaySite

    site = ReplaySite(host=host, port=port, seed=seed)
    site.start()
    click.echo(f"replay site on {site.url}")
    for spider, url in site.base_urls().items():
        click.echo(f"  scrapy crawl {spider:<12} -a base_url={url}")
    click.echo("  (scheduler: opmon scheduler " + " ".join(f"--base-url {k}={v}" for k, v in site.base_urls().items())
               + ")\npress Ctrl-C to stop")
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        site.stop()


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("data/demo"), show_default=True)
@click.option("--port", type=int, default=8000, show_default=True, help="API and dashboard port")
@click.option("--headless", is_flag=True, help="run every stage, print where to look, and exit")
@click.option("--exit-after", type=float, default=None, help="keep serving this many seconds, then exit")
@click.option("--fresh/--keep", default=True, show_default=True, help="start from an empty demo data dir")
def demo(data_dir, port, headless, exit_after, fresh):
    """The whole service offline: replay site -> crawl -> score -> store -> API + dashboard -> alert."""
    from ops.demo import run_demo

    raise SystemExit(run_demo(data_dir=data_dir, port=port, headless=headless, exit_after=exit_after,
                              fresh=fresh))
