"""Fixtures for the ops tests: a simulated clock and a runner whose crawls end as scripted."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from ops.clock import FakeClock
from ops.crawl import CrawlResult
from ops.jobs import JobSpec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ScriptedHandle:
    spec: JobSpec
    clock: FakeClock
    ends_at: float
    result: CrawlResult
    stopped: bool = False

    def poll(self, now=None):
        if self.stopped:
            return CrawlResult(outcome="interrupted", finish_reason="shutdown")
        return self.result if self.clock.now() >= self.ends_at else None

    def stop(self):
        self.stopped = True


@dataclass
class ScriptedRunner:
    """Crawls take `duration` simulated seconds and end with `outcome(spec, n)` (n = start count)."""

    clock: FakeClock
    outcome: Callable[[JobSpec, int], CrawlResult] = lambda spec, n: CrawlResult(outcome="finished", items=3)
    duration: float = 60.0
    starts: list[tuple[float, str, dict]] = field(default_factory=list)

    def start(self, spec, extra_args=None):
        n = sum(1 for _, k, _ in self.starts if k == spec.key)
        self.starts.append((self.clock.now(), spec.key, dict(extra_args or {})))
        return ScriptedHandle(spec, self.clock, self.clock.now() + self.duration, self.outcome(spec, n))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def run_crawl(spider: str, args: dict, base_url: str, workdir, env_extra: dict | None = None,
              settings: dict | None = None, timeout: float = 180):
    """A real `scrapy crawl` subprocess; returns (exit code, end-of-crawl summary dict, log text)."""
    import json
    import os
    import subprocess
    import sys

    from ops.replay.server import REPLAY_CRAWL_SETTINGS

    workdir.mkdir(parents=True, exist_ok=True)
    log, summary = workdir / f"{spider}.log", workdir / f"{spider}.summary.json"
    env = {**os.environ, "OPMON_NLP_ENABLED": "false", "OPMON_DATA_DIR": str(workdir / "data"), **(env_extra or {})}
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider, "-a", f"base_url={base_url}"]
    for k, v in args.items():
        cmd += ["-a", f"{k}={v}"]
    sets = {**REPLAY_CRAWL_SETTINGS, "LOG_FILE": str(log), "CRAWL_SUMMARY_FILE": str(summary), **(settings or {})}
    for k, v in sets.items():
        cmd += ["-s", f"{k}={v}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=timeout, text=True)
    data = json.loads(summary.read_text()) if summary.exists() else {}
    text = log.read_text(errors="replace") if log.exists() else ""
    return proc.returncode, data, text + proc.stderr


def stored(workdir, **filters) -> int:
    """Mentions in the embedded store a crawl in `workdir` wrote."""
    import os

    from core.settings import Settings
    from store.base import Filters
    from store.factory import open_store

    os.environ.pop("OPMON_SQLITE_PATH", None)
    store = open_store(Settings(data_dir=workdir / "data"))
    try:
        return store.count(Filters(**filters))
    finally:
        store.close()
