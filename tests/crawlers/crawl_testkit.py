"""Fixtures for spider tests: a real local HTTP server replaying saved pages, and a crawl runner.

`replay_server` (function scope) is a real threaded HTTP server on 127.0.0.1 (random port)::

    server.add("/api/container/getIndex", query={"page": "2"}, body=PAGES / "weibo/search_p2.json",
               content_type="application/json")
    server.add("/comments/hotflow", status=432, body="<html>...")           # a block signal
    server.add("/weibo", redirect="https://passport.weibo.com/visitor/visitor?entry=miniblog")
    server.add("/slow", body="...", delay=0.5)                              # seconds before answering
    server.add("/p/1", body=gbk_bytes, content_type="text/html; charset=gbk")
    server.add("/x", status=418, times=2)   # first 2 requests get 418, then the next matching route
    server.load_manifest(PAGES / "weibo" / "routes.json")  # the same, from a file (see below)

Routes match on the exact path and on a subset of the query string (every given key must be present
with that value; "*" means present with any value); the route with the most query keys wins, and among
equals the one added first. `body` may be bytes, str (encoded with `encoding`, default utf-8), or a
Path (read as bytes). Unmatched requests get 404 and are recorded. `server.requests` lists every
request received (method, path, query dict, headers dict), in order, for assertions.

Manifest (JSON list, paths relative to the manifest's folder)::

    [{"path": "/api/container/getIndex", "query": {"page": "1"}, "file": "search_p1.json",
      "content_type": "application/json", "status": 200, "headers": {"X-A": "1"},
      "encoding": "utf-8", "delay": 0, "times": null, "redirect": null}]

`run_crawl(spider, args, settings=None, env=None)` runs `scrapy crawl` in a subprocess (the Twisted
reactor cannot restart in one process) with fast localhost settings and returns a `CrawlRun` with the
items (from a JSONL feed), the outcome summary (CRAWL_SUMMARY_FILE), the stats and the log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = Path(__file__).resolve().parent / "pages"


@dataclass
class Route:
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    times: int | None = None  # answer this many times, then stop matching
    hits: int = 0

    def matches(self, path: str, query: dict[str, str]) -> bool:
        if path != self.path or (self.times is not None and self.hits >= self.times):
            return False
        return all(k in query and (v == "*" or query[k] == v) for k, v in self.query.items())


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class ReplayServer:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                server._handle(self)

            do_POST = do_GET  # noqa: N815
            do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ReplayServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add(self, path: str, *, query: dict | None = None, body: bytes | str | Path = b"", status: int = 200,
            content_type: str | None = None, headers: dict | None = None, encoding: str = "utf-8",
            redirect: str | None = None, delay: float = 0.0, times: int | None = None) -> Route:
        if isinstance(body, Path):
            body = body.read_bytes()
        elif isinstance(body, str):
            body = body.encode(encoding)
        hdrs = dict(headers or {})
        if content_type:
            hdrs["Content-Type"] = content_type
        if redirect:
            hdrs["Location"] = redirect
            status = status if 300 <= status < 400 else 302
        route = Route(path, {k: str(v) for k, v in (query or {}).items()}, body, status, hdrs, delay, times)
        with self._lock:
            self.routes.append(route)
        return route

    def load_manifest(self, manifest: Path) -> None:
        base = manifest.parent
        for entry in json.loads(manifest.read_text(encoding="utf-8")):
            entry = dict(entry)
            file = entry.pop("file", None)
            body = (base / file) if file else entry.pop("body", b"")
            self.add(entry.pop("path"), body=body, **entry)

    def hits(self, path: str, **query: str) -> int:
        return sum(1 for r in self.requests if r.path == path and all(r.query.get(k) == v for k, v in query.items()))

    def _find(self, path: str, query: dict[str, str]) -> Route | None:
        with self._lock:
            best = None
            for route in self.routes:
                if route.matches(path, query) and (best is None or len(route.query) > len(best.query)):
                    best = route
            if best is not None:
                best.hits += 1
            return best

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            h.rfile.read(length)
        with self._lock:
            self.requests.append(Received(h.command, parts.path, query, dict(h.headers.items())))
        route = self._find(parts.path, query)
        if route is None:
            status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
        else:
            if route.delay:
                time.sleep(route.delay)
            status, headers, body = route.status, route.headers, route.body
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            if "Content-Type" not in headers:
                h.send_header("Content-Type", "text/html; charset=utf-8")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def replay_server():
    server = ReplayServer().start()
    yield server
    server.stop()


# Fast, deterministic settings for crawls against localhost (real sites get the polite defaults).
FAST_SETTINGS = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "0",
    "RANDOMIZE_DOWNLOAD_DELAY": "0",
    "BLOCK_BACKOFF_BASE": "0.05",
    "BLOCK_BACKOFF_MAX": "0.2",
    "RETRY_TIMES": "1",
    "BATCH_MAX_WAIT": "0.1",
    "BATCH_IDLE_FLUSH": "0.02",
    "DOWNLOAD_TIMEOUT": "10",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
    "LOG_LEVEL": "INFO",
}


@dataclass
class CrawlRun:
    returncode: int
    items: list[dict]
    summary: dict
    log: str

    @property
    def stats(self) -> dict:
        return self.summary.get("stats", {})

    @property
    def finish_reason(self) -> str | None:
        return self.summary.get("finish_reason")

    def by_id(self) -> dict[str, dict]:
        return {i["id"]: i for i in self.items}


@pytest.fixture
def run_crawl(tmp_path):
    """Run `scrapy crawl` in a subprocess from the repo root; see the module docstring."""
    counter = {"n": 0}

    def run(spider: str, args: dict | None = None, settings: dict | None = None, env: dict | None = None,
            timeout: float = 90) -> CrawlRun:
        counter["n"] += 1
        out = tmp_path / f"crawl{counter['n']}"
        out.mkdir()
        feed, summary = out / "items.jsonl", out / "summary.json"
        cmd = [sys.executable, "-m", "scrapy", "crawl", spider, "-O", f"{feed}:jsonlines"]
        for k, v in (args or {}).items():
            cmd += ["-a", f"{k}={v}"]
        merged = {**FAST_SETTINGS, "CRAWL_SUMMARY_FILE": str(summary), **(settings or {})}
        for k, v in merged.items():
            cmd += ["-s", f"{k}={v}"]
        full_env = {**os.environ, "OPMON_NLP_ENABLED": "false", "PYTHONHASHSEED": "0", **(env or {})}
        proc = subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout)
        items = [json.loads(line) for line in feed.read_text(encoding="utf-8").splitlines()] if feed.exists() else []
        data = json.loads(summary.read_text(encoding="utf-8")) if summary.exists() else {}
        return CrawlRun(proc.returncode, items, data, proc.stdout + proc.stderr)

    return run
