"""Running one crawl as a `scrapy crawl` subprocess and reading how it ended.

Each crawl runs in its own process (a crashed or leaking spider cannot take the scheduler down)
with its own log file. How it ended is read from Scrapy's own closing lines, which every Scrapy
crawl prints: `Spider closed (<finish_reason>)` and the `Dumping Scrapy stats:` block. The crawler
infrastructure ends a blocked crawl with finish_reason `blocked` and a `blocked/<signal>` stat.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ops.jobs import JobSpec

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_CLOSED = re.compile(r"Spider closed \(([\w\-]+)\)")
_STATS_START = "Dumping Scrapy stats:"
_STAT_NUM = re.compile(r"'([^']+)':\s*(-?\d+(?:\.\d+)?)\b")
_STAT_STR = re.compile(r"'([^']+)':\s*'([^']*)'")
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")
# finish reasons that mean "the crawl did its job"
SUCCESS_REASONS = ("finished", "closespider_itemcount", "closespider_pagecount", "closespider_timeout",
                   "closespider_errorcount", "caught_up")


@dataclass
class CrawlResult:
    outcome: str  # finished | blocked | failed | timeout | interrupted
    finish_reason: str | None = None
    returncode: int | None = None
    items: int = 0
    pages: int = 0
    signal: str | None = None
    stats: dict[str, float | str] = field(default_factory=dict)
    detail: str = ""
    log_file: str | None = None


def parse_crawl_log(text: str) -> tuple[str | None, dict[str, float | str]]:
    """(finish_reason, stats) from a Scrapy log; (None, {}) when the crawl never closed cleanly."""
    reasons = _CLOSED.findall(text)
    stats: dict[str, float | str] = {}
    idx = text.rfind(_STATS_START)
    if idx >= 0:
        block_lines = []
        for line in text[idx + len(_STATS_START):].splitlines()[1:]:
            if _LOG_LINE.match(line):
                break
            block_lines.append(line)
        block = "\n".join(block_lines)
        for k, v in _STAT_STR.findall(block):
            stats[k] = v
        for k, v in _STAT_NUM.findall(block):
            stats[k] = float(v) if "." in v else int(v)
    reason = reasons[-1] if reasons else stats.get("finish_reason")
    return (str(reason) if reason else None), stats


def blocked_signal(stats: dict) -> str | None:
    """The block signal that fired most (`blocked/<signal>` counters)."""
    counts = {k.split("/", 1)[1]: v for k, v in stats.items()
              if k.startswith("blocked/") and isinstance(v, int | float)}
    return max(counts, key=counts.get) if counts else None


def classify(finish_reason: str | None, returncode: int | None, stats: dict) -> str:
    if finish_reason == "blocked":
        return "blocked"
    if finish_reason in ("shutdown", "cancelled"):
        return "interrupted"
    if finish_reason in SUCCESS_REASONS or (finish_reason or "").startswith("closespider_"):
        return "finished"
    return "failed"


def rebase(url: str, base: str) -> str:
    """Move `url` onto `base` (scheme, host and path prefix), keeping its own path and query."""
    u, b = urlsplit(url), urlsplit(base)
    if (u.scheme, u.netloc) == (b.scheme, b.netloc) and u.path.startswith(b.path.rstrip("/") + "/"):
        return url  # already on the mirror
    return urlunsplit((b.scheme, b.netloc, b.path.rstrip("/") + (u.path or "/"), u.query, u.fragment))


def crawl_command(spec: JobSpec, *, base_url: str | None, log_file: Path, jobdir: Path | None,
                  extra_args: dict[str, str] | None = None, settings: dict[str, str] | None = None) -> list[str]:
    args = dict(spec.args)
    if base_url:
        # Discuz boards carry their own base_url (with a path): move only its scheme and host.
        args["base_url"] = rebase(args["base_url"], base_url) if "base_url" in args else base_url
    args.update(extra_args or {})
    cmd = [sys.executable, "-m", "scrapy", "crawl", spec.spider]
    for k, v in args.items():
        cmd += ["-a", f"{k}={v}"]
    sets = {"LOG_FILE": str(log_file), "LOG_LEVEL": "INFO", "LOG_FILE_APPEND": "False", **(settings or {})}
    if jobdir is not None:
        sets["JOBDIR"] = str(jobdir)
    for k, v in sets.items():
        cmd += ["-s", f"{k}={v}"]
    return cmd


class RunningCrawl:
    def __init__(self, spec: JobSpec, proc: subprocess.Popen, log_file: Path, jobdir: Path | None,
                 started: float, timeout_s: float, summary_file: Path | None = None):
        self.spec, self.proc, self.log_file, self.jobdir = spec, proc, log_file, jobdir
        self.summary_file = summary_file
        self.started, self.timeout_s = started, timeout_s
        self._timed_out = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self, now: float | None = None) -> CrawlResult | None:
        now = time.monotonic() if now is None else now
        rc = self.proc.poll()
        if rc is None:
            if not self._timed_out and now - self.started > self.timeout_s:
                log.warning("crawl %s ran longer than %.0fs: stopping it", self.spec.key, self.timeout_s)
                self._timed_out = True
                self.stop()
            return None
        return self._result(rc)

    def wait(self, timeout: float | None = None) -> CrawlResult:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._timed_out = True
            self.stop()
            rc = self.proc.wait()
        return self._result(rc)

    def _summary(self) -> dict | None:
        if self.summary_file is None:
            return None
        try:
            return json.loads(self.summary_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGINT first (Scrapy closes cleanly, JOBDIR keeps the queue), SIGKILL if it hangs."""
        if self.proc.poll() is not None:
            return
        try:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _result(self, rc: int) -> CrawlResult:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        reason, stats = parse_crawl_log(text)
        summary = self._summary()
        if summary:
            # the crawler's own end-of-crawl summary (crawlers/extensions.py) beats parsing the log
            reason = summary.get("finish_reason") or reason
            stats = {**stats, **{k: v for k, v in (summary.get("stats") or {}).items()
                                 if isinstance(v, int | float | str)}}
            if summary.get("signal"):
                stats.setdefault(f"blocked/{summary['signal']}", 1)
                stats["blocked_signal"] = summary["signal"]
        outcome = "timeout" if self._timed_out else classify(reason, rc, stats)
        if outcome == "finished" and rc not in (0, None):
            outcome = "failed"
        pages = sum(int(v) for k, v in stats.items()
                    if k.startswith("downloader/response_status_count/") and isinstance(v, int | float))
        result = CrawlResult(
            outcome=outcome, finish_reason=reason, returncode=rc, items=int(stats.get("item_scraped_count", 0)),
            pages=pages, signal=(stats.get("blocked_signal") or blocked_signal(stats)) if outcome == "blocked" else None,
            stats=stats,
            log_file=str(self.log_file),
        )
        if outcome in ("failed", "timeout"):
            tail = [ln for ln in text.splitlines() if " ERROR" in ln or "Error" in ln][-3:]
            if not tail:
                try:
                    tail = self.log_file.with_suffix(".err").read_text(errors="replace").strip().splitlines()[-3:]
                except OSError:
                    tail = []
            result.detail = (" | ".join(tail) or f"exit code {rc}")[:500]
        elif outcome == "blocked":
            errors = [ln for ln in text.splitlines() if " ERROR" in ln and "block" in ln.lower()]
            result.detail = (errors[-1] if errors else f"signal {result.signal}")[:500]
        # Only a crawl that Scrapy shut down cleanly (SIGINT: finish_reason "shutdown") resumes from
        # its JOBDIR. After a crash or SIGKILL the on-disk queue can be stale while the seen-requests
        # file is not, which could skip pages forever; the next run starts afresh instead (the
        # incremental state was not advanced, so nothing is missed; the store upserts by id).
        if self.jobdir is not None and reason != "shutdown":
            shutil.rmtree(self.jobdir, ignore_errors=True)
        return result


class SubprocessRunner:
    """Starts `scrapy crawl` subprocesses in the Scrapy project root."""

    def __init__(self, work_dir: Path, *, base_urls: dict[str, str] | None = None,
                 extra_settings: dict[str, str] | None = None, use_jobdir: bool = True,
                 env: dict[str, str] | None = None, timeout_s: float = 1800):
        self.work_dir = Path(work_dir)
        self.base_urls = base_urls or {}
        self.extra_settings = extra_settings or {}
        self.use_jobdir = use_jobdir
        self.env = env
        self.timeout_s = timeout_s

    def base_url_for(self, spec: JobSpec) -> str | None:
        return self.base_urls.get(spec.spider) or self.base_urls.get(spec.site) or self.base_urls.get("*")

    def start(self, spec: JobSpec, extra_args: dict[str, str] | None = None) -> RunningCrawl:
        logs = self.work_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        log_file = logs / f"{spec.slug()}-{stamp}.log"
        jobdir = self.work_dir / "jobs" / spec.slug() if self.use_jobdir else None
        summary = log_file.with_suffix(".json")
        cmd = crawl_command(spec, base_url=self.base_url_for(spec), log_file=log_file, jobdir=jobdir,
                            extra_args=extra_args,
                            settings={"CRAWL_SUMMARY_FILE": str(summary), **self.extra_settings})
        env = {**os.environ, **(self.env or {})}
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(log_file.with_suffix(".err"), "wb") as err:
            # stderr only carries what escapes Scrapy's logging (import errors, tracebacks at start).
            proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        log.info("crawl started: %s (pid %s, log %s)", spec.key, proc.pid, log_file)
        return RunningCrawl(spec, proc, log_file, jobdir, time.monotonic(), self.timeout_s, summary)
