"""`opmon demo` (`make demo`): the whole service on one machine, offline, in a few minutes.

Stages: data dir -> replay site -> brands + four weeks of baseline history -> one scheduler round
(every source crawled through the real spiders and pipelines: validate, brands, dedupe, NLP, store)
-> API + dashboard (uvicorn) -> a local webhook receiver registered through the API -> the alert
monitor finds the complaint surge -> the alert is delivered, signed, to the receiver.
Then it prints where to look and keeps serving until Ctrl-C (or exits: --headless / --exit-after).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml
from rich.console import Console
from rich.table import Table

log = logging.getLogger(__name__)
console = Console(highlight=False)

ALERT_WAIT_S = 60.0


class DemoFailed(Exception):
    pass


class Stages:
    """Numbered stage lines with timings: readable in a terminal and in a CI log."""

    def __init__(self, total: int):
        self.total, self.n, self.t0 = total, 0, time.monotonic()

    def start(self, title: str) -> float:
        self.n += 1
        console.print(f"[bold cyan][{self.n}/{self.total}][/] {title} ...")
        return time.monotonic()

    def done(self, started: float, detail: str = "") -> None:
        console.print(f"      [green]done[/] in {time.monotonic() - started:.1f}s" + (f" · {detail}" if detail else ""))


def _demo_env(data_dir: Path, port: int, admin_key: str, nlp: bool) -> None:
    os.environ["OPMON_DATA_DIR"] = str(data_dir)
    os.environ["OPMON_STORE"] = "sqlite"
    os.environ["OPMON_BRANDS_FILE"] = str(data_dir / "brands.yaml")
    os.environ["OPMON_ADMIN_KEY"] = admin_key
    os.environ["OPMON_API_PORT"] = str(port)
    os.environ["OPMON_NLP_ENABLED"] = "true" if nlp else "false"
    os.environ.pop("OPMON_DISTRIBUTED", None)
    from core.settings import get_settings

    get_settings.cache_clear()


def _nlp_available() -> tuple[bool, str]:
    try:
        from core.settings import get_settings
        from nlp.analyzer import Analyzer

        analyzer = Analyzer.from_settings(get_settings())
        return True, analyzer.model_name
    except Exception as exc:  # no trained model yet, or torch missing: the demo still runs, unscored
        return False, str(exc).splitlines()[0][:160]


def _write_brands(path: Path) -> None:
    from ops.replay.content import DEMO_BRANDS

    # Targets keep the sites' real addresses; the scheduler's --base-url moves every crawl onto the replay site.
    brands = json.loads(json.dumps(DEMO_BRANDS))
    schedule = {"intervals": {"weibo": "15m", "weibo_search": "1h", "tieba": "30m", "discuz": "1h",
                              "jd": "6h", "dianping": "6h"},
                "max_per_site": {"default": 1}, "max_total": 3, "crawl_timeout": "4m"}
    path.write_text("# Written by `opmon demo`: the two invented demo brands, crawled from the replay site.\n"
                    + yaml.safe_dump({"brands": brands, "schedule": schedule}, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")


class ApiServer:
    def __init__(self, settings, port: int):
        import uvicorn

        from api.main import create_app

        self.app = create_app(settings)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="on"))
        self.server.install_signal_handlers = lambda: None  # the demo owns Ctrl-C
        self.thread = threading.Thread(target=self.server.run, name="api", daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 120.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.started:
                return
            if not self.thread.is_alive():
                raise DemoFailed(f"the API did not start on {self.url} (port in use? try --port)")
            time.sleep(0.1)
        raise DemoFailed(f"the API did not start within {timeout:.0f}s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def _crawl_round(settings, base_urls: dict[str, str], stop: threading.Event) -> list:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ops.cli import build_scheduler
    from ops.replay.server import REPLAY_CRAWL_SETTINGS

    sched = build_scheduler(settings, base_urls=base_urls, alerts=False, webhooks=False,
                            extra_settings=REPLAY_CRAWL_SETTINGS)
    sched.sync()
    total = len(sched.jobs.all())
    with Progress(TextColumn("      {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task("crawling", total=total)

        def done(job, r):
            mark = {"finished": "[green]ok[/]", "blocked": "[red]BLOCKED[/]"}.get(r.outcome, f"[yellow]{r.outcome}[/]")
            progress.console.print(f"      {mark} {job.spec.spider:<12} {r.items:>4} mentions {r.pages:>3} pages"
                                   + (f"  {r.detail[-70:]}" if r.outcome != "finished" and r.detail else ""))
            progress.advance(task)

        return sched.run_round(deadline_s=240, stop=stop, on_done=done)


def _register(api: str, admin_key: str, receiver_url: str) -> tuple[str, str]:
    """Through the API, as a user would: a read key for the examples and the webhook."""
    h = {"X-API-Key": admin_key}
    with httpx.Client(base_url=api, timeout=30) as c:
        r = c.post("/v1/keys", json={"name": "demo-analyst", "scopes": ["read"]}, headers=h)
        r.raise_for_status()
        read_key = r.json().get("token") or r.json().get("key")
        r = c.post("/v1/webhooks", json={"url": receiver_url, "events": ["alert.*", "crawl.*"],
                                         "description": "opmon demo receiver"}, headers=h)
        r.raise_for_status()
        secret = r.json()["secret"]
    return read_key, secret


def _alerts(settings, store) -> int:
    from ops.tasks import alert_pass
    from store.sqlite_db import StateDB

    state = StateDB(settings.state_db)
    report = alert_pass(state, store, settings)(time.time())
    return len(report.opened)


def run_demo(data_dir: Path, port: int = 8000, headless: bool = False, exit_after: float | None = None,
             fresh: bool = True) -> int:
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def on_signal(signum, frame):
        console.print("\n[yellow]stopping the demo ...[/]")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    cleanup: list = []
    try:
        return _run(data_dir.resolve(), port, headless, exit_after, fresh, stop, cleanup)
    except DemoFailed as exc:
        console.print(f"[bold red]demo failed:[/] {exc}")
        return 1
    finally:
        for fn in reversed(cleanup):
            try:
                fn()
            except Exception:  # best effort: a failing stop must not hide the others
                log.debug("cleanup step failed", exc_info=True)
        signal.signal(signal.SIGINT, previous)


def _run(data_dir: Path, port: int, headless: bool, exit_after: float | None, fresh: bool,
         stop: threading.Event, cleanup: list) -> int:
    from ops.receiver import WebhookReceiver
    from ops.replay.server import ReplaySite

    # The stage lines and the crawl table say what happened; keep library INFO chatter out of them.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("ops.scheduler").setLevel(logging.CRITICAL)
    logging.getLogger("ops.tasks").setLevel(logging.ERROR)
    stages = Stages(8)
    t = stages.start(f"data directory {data_dir}")
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    admin_key = "opm_demo_" + secrets.token_urlsafe(24)
    _demo_env(data_dir, port, admin_key, nlp=True)
    nlp_ok, model = _nlp_available()
    if not nlp_ok:
        _demo_env(data_dir, port, admin_key, nlp=False)
    from core.settings import get_settings

    settings = get_settings()
    stages.done(t, f"NLP model: {model}" if nlp_ok else f"[yellow]NLP off[/] ({model})")

    t = stages.start("replay site (two invented brands, a complaint surge in the last 3 hours)")
    site = ReplaySite().start()
    cleanup.append(site.stop)
    base_urls = site.base_urls()
    stages.done(t, site.url)

    t = stages.start("brands and four weeks of baseline history")
    _write_brands(settings.brands_file)
    from ops.brandseed import seed_brands
    from ops.replay.history import seed_history
    from store.factory import open_store
    from store.sqlite_db import StateDB

    seed_brands(StateDB(settings.state_db), settings.brands_file)
    store = open_store(settings)
    cleanup.append(store.close)
    n_hist = seed_history(store, datetime.now(UTC))
    stages.done(t, f"{n_hist} history mentions (ids *:hist-*)")

    t = stages.start("crawling every source through the real spiders (scheduler, one round)")
    results = _crawl_round(settings, base_urls, stop)
    if stop.is_set():
        return 130
    crawled = sum(r.items for _, r in results)
    bad = [j.key for j, r in results if r.outcome != "finished"]
    stages.done(t, f"{crawled} mentions from {len(results)} crawls"
                + (f" · [yellow]not finished: {', '.join(bad)}[/]" if bad else ""))
    if crawled == 0:
        raise DemoFailed("no mention was crawled; see the crawl logs under " + str(data_dir / "crawls" / "logs"))

    t = stages.start("API and dashboard")
    api = ApiServer(settings, port)
    api.start()
    cleanup.append(api.stop)
    stages.done(t, api.url)

    t = stages.start("demo webhook receiver, registered through the API")
    alerts_file = data_dir / "alerts_received.jsonl"
    receiver = WebhookReceiver(alerts_file, tolerance_s=300).start()
    cleanup.append(receiver.stop)
    read_key, secret = _register(api.url, admin_key, receiver.url)
    receiver.secret = secret
    stages.done(t, receiver.url)

    t = stages.start("alert monitor over the surge")
    try:
        opened = _alerts(settings, store)
    except ImportError as exc:
        raise DemoFailed(f"the alert monitor is not available: {exc}") from exc
    stages.done(t, f"{opened} alert(s) opened")

    t = stages.start("delivering the alert to the receiver (signed webhook)")
    deadline = time.monotonic() + ALERT_WAIT_S
    while time.monotonic() < deadline and not stop.is_set():
        if any(str(e.get("event_type", "")).startswith("alert.") for e in receiver.events):
            break
        time.sleep(0.25)
    alerts = [e for e in receiver.events if str(e.get("event_type", "")).startswith("alert.")]
    if not alerts:
        raise DemoFailed(f"no alert reached the receiver within {ALERT_WAIT_S:.0f}s")
    stages.done(t, f"{len(alerts)} alert event(s) in {alerts_file}")

    _summary(api.url, read_key, alerts_file, alerts, store, results, time.monotonic() - stages.t0)
    if headless and exit_after is None:
        return 0
    limit = exit_after if exit_after is not None else None
    console.print("\n[bold]Serving.[/] Press Ctrl-C to stop." if limit is None
                  else f"\n[bold]Serving for {limit:.0f}s.[/]")
    end = time.monotonic() + limit if limit is not None else None
    while not stop.is_set() and (end is None or time.monotonic() < end):
        stop.wait(0.5)
    return 0


def _summary(api: str, key: str, alerts_file: Path, alerts: list[dict], store, results, elapsed: float) -> None:
    from store.base import Filters

    table = Table(title="What the demo crawled", show_lines=False)
    for col in ("source", "mentions in store"):
        table.add_column(col)
    for source in ("weibo", "tieba", "jd", "dianping", "discuz"):
        table.add_row(source, str(store.count(Filters(sources=[source]))))
    console.print(table)
    first = alerts[0]["event"]
    data = first.get("data", first)
    summary = data.get("summary_en") or data.get("summary") or data.get("title") or json.dumps(data, ensure_ascii=False)[:200]
    q = "%E7%94%B5%E6%B1%A0"  # 电池
    text = f"""
[bold green]The demo is up[/] ({elapsed:.0f}s).

  Dashboard      {api}/dashboard
  API docs       {api}/docs
  Metrics        {api}/metrics
  Demo read key  {key}

  Try:
    curl -s -H 'X-API-Key: {key}' '{api}/v1/mentions?q={q}&brand=%E6%BE%9C%E9%B2%B8&limit=5'
    curl -s -H 'X-API-Key: {key}' '{api}/v1/trends?brand=%E6%BE%9C%E9%B2%B8&interval=hour'
    curl -s -H 'X-API-Key: {key}' '{api}/v1/alerts'

  Alert delivered to the demo webhook receiver: {alerts_file}
    {str(summary)[:160]}
"""
    console.print(text, soft_wrap=True)
