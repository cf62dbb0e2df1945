"""The replay site: one loopback HTTP server that plays every source the spiders crawl.

Each real host lives under its own path prefix, so that a spider pointed at it with
`-a base_url=http://127.0.0.1:PORT/<host>` sends its usual paths and queries:

    /m.weibo.cn/...            m.weibo.cn JSON search, /detail/{id}, comments   (spider: weibo)
    /s.weibo.com/weibo?...     s.weibo.com search HTML                          (weibo_search)
    /tieba.baidu.com/...       Tieba forum list (BigPipe comment) and threads   (tieba)
    /club.jd.com/...           JD review JSONP in GBK                           (jd)
    /www.dianping.com/...      Dianping reviews + the CSS and SVG sprite        (dianping)
    /bbs.chihuo.example/...    a Discuz! X board in GBK                         (discuz)
    /__replay/stats            JSON: requests served per path (tests count fetches)

Content comes from `ops.replay.content` (two invented brands and a complaint surge relative to the
server's start time). Every request is counted; `delay_s` slows every answer (for kill/resume and
distributed tests).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from core.mention import SHANGHAI
from ops.replay import render
from ops.replay.content import World, build_world
from ops.replay.faults import CAPTCHA, Faults

log = logging.getLogger(__name__)

HOSTS = {
    "weibo": "m.weibo.cn",
    "weibo_search": "s.weibo.com",
    "tieba": "tieba.baidu.com",
    "jd": "club.jd.com",
    "dianping": "www.dianping.com",
    "discuz": "bbs.chihuo.example",
}
SHOP_NAME = "沸腾里火锅(春熙路店)"
_TIMESCOPE = re.compile(r"custom:(\d{4}-\d{2}-\d{2}-\d{1,2}):(\d{4}-\d{2}-\d{2}-\d{1,2})")


class Reply:
    def __init__(self, status: int = 200, body: bytes | str = b"", ctype: str = "text/html; charset=utf-8",
                 headers: dict[str, str] | None = None):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.ctype = ctype
        self.headers = headers or {}


def _json(data) -> Reply:
    return Reply(body=json.dumps(data, ensure_ascii=False), ctype="application/json; charset=utf-8")


def _not_found(path: str) -> Reply:
    return Reply(404, f"<html><body><h1>404</h1><p>{path}</p></body></html>")


def _scope_hour(s: str) -> datetime:
    d, h = s.rsplit("-", 1)
    return datetime.strptime(d, "%Y-%m-%d").replace(hour=int(h), tzinfo=SHANGHAI)


BLOCK_PAGES = {
    "weibo": lambda: Reply(432, "<html>\n<head><title>432</title></head>\n<body>\n<center><h1>432</h1></center>\n"
                                "<hr><center>weibo</center>\n</body>\n</html>"),
    "weibo_search": lambda: Reply(302, "", headers={
        "Location": "/passport.weibo.com/visitor/visitor?entry=miniblog&a=enter"}),
    "tieba": lambda: Reply(403, '<!DOCTYPE html><html><head><meta charset="utf-8"><title>百度安全验证</title></head>'
                                '<body><div class="timeout-title">网络不给力，请稍后重试</div></body></html>'),
    "jd": lambda: Reply(403, "<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1>"
                             "</center><hr><center>JDWS</center></body></html>"),
    "dianping": lambda: Reply(302, "", headers={
        "Location": "/verify.meituan.com/v2/web/general_page?action=spiderindefence&requestCode=r1"}),
    "discuz": lambda: Reply(403, "<html><body><h1>403 Forbidden</h1></body></html>"),
}


class ReplayApp:
    """Routing and rendering, independent of the HTTP server (so tests can call it directly)."""

    def __init__(self, world: World):
        self.world = world
        self.blocked: set[str] = set()  # spider names whose site answers with its block signal
        texts = [r.text for rs in world.dianping.values() for r in rs]
        self.sprite = render.DianpingSprite(texts)

    def handle(self, raw_path: str) -> Reply:
        parts = urlsplit(raw_path)
        segs = parts.path.split("/", 2)
        host = segs[1] if len(segs) > 1 else ""
        rest = "/" + (segs[2] if len(segs) > 2 else "")
        q = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        route = {
            HOSTS["weibo"]: self.m_weibo, HOSTS["weibo_search"]: self.s_weibo, HOSTS["tieba"]: self.tieba,
            HOSTS["jd"]: self.jd, HOSTS["dianping"]: self.dianping, HOSTS["discuz"]: self.discuz,
        }.get(host)
        if host == "" and parts.path in ("/", ""):
            return Reply(body=self.index())
        if host == "passport.weibo.com":
            return Reply(body='<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sina Visitor System</title>'
                              '</head><body><span>Sina Visitor System</span></body></html>')
        if host == "verify.meituan.com":
            return Reply(body='<!DOCTYPE html><html><head><meta charset="utf-8"><title>验证中心</title></head>'
                              '<body><div id="app"><div class="yodaBox"><p>请依次点击图中的文字完成验证</p></div></div>'
                              '</body></html>')
        for spider in self.blocked:
            if HOSTS.get(spider) == host and not rest.startswith("/v1/"):
                return BLOCK_PAGES[spider]()
        if route is None:
            return _not_found(parts.path)
        return route(rest, q)

    def index(self) -> str:
        rows = "".join(f"<li>{name}: <code>/{host}</code></li>" for name, host in HOSTS.items())
        return f"<html><body><h1>opmon replay site</h1><p>world at {self.world.now.isoformat()}</p><ul>{rows}</ul></body></html>"

    # m.weibo.cn ---------------------------------------------------------------------------------
    def m_weibo(self, path: str, q: dict) -> Reply:
        if path in ("/", ""):
            return Reply(body='<!DOCTYPE html><html><head><meta charset="utf-8"><title>微博</title></head>'
                              '<body><div id="app"></div></body></html>',
                         headers={"Set-Cookie": "WEIBOCN_FROM=1110006030; path=/; domain=.weibo.cn"})
        if path == "/api/container/getIndex":
            container = unquote(q.get("containerid", ""))
            m = re.search(r"[&?]?q=([^&]+)", container)
            keyword = m.group(1) if m else ""
            page = max(1, int(q.get("page") or 1))
            return _json(render.weibo_getindex(self.world.weibo.get(keyword, []), keyword, page))
        if path.startswith("/detail/") or path.startswith("/status/"):
            mid = path.rsplit("/", 1)[-1]
            for posts in self.world.weibo.values():
                for p in posts:
                    if p.native_id == mid or p.extra.get("bid") == mid:
                        return Reply(body=render.weibo_detail(p))
            return Reply(body='<html><body><p class="h5-4con">出错了，未知错误</p></body></html>')
        if path == "/comments/hotflow":
            return _json(render.weibo_comments_empty())
        if path == "/api/config":
            return _json({"ok": 1, "data": {"login": False, "st": "", "uid": ""}})
        return _not_found(path)

    # s.weibo.com --------------------------------------------------------------------------------
    def s_weibo(self, path: str, q: dict) -> Reply:
        if path != "/weibo":
            return _not_found(path)
        keyword = q.get("q", "")
        posts = self.world.weibo.get(keyword, [])
        m = _TIMESCOPE.search(q.get("timescope", ""))
        if m:
            start, end = _scope_hour(m.group(1)), _scope_hour(m.group(2))
            posts = [p for p in posts if start <= p.published.astimezone(SHANGHAI) < end]
        page = max(1, int(q.get("page") or 1))
        return Reply(body=render.s_weibo_page(posts, keyword, page, self.world.now))

    # Tieba --------------------------------------------------------------------------------------
    def tieba(self, path: str, q: dict) -> Reply:
        if path == "/f":
            forum = q.get("kw", "")
            threads = self.world.tieba.get(forum)
            if threads is None:
                threads = []
            return Reply(body=render.tieba_list_page(forum, threads, int(q.get("pn") or 0), self.world.now))
        m = re.fullmatch(r"/p/(\d+)", path)
        if m:
            for forum, threads in self.world.tieba.items():
                for t in threads:
                    if t.tid == m.group(1):
                        pn = max(1, int(q.get("pn") or 1))
                        return Reply(body=render.tieba_thread_page(forum, t, pn))
        return _not_found(path)

    # JD -----------------------------------------------------------------------------------------
    def jd(self, path: str, q: dict) -> Reply:
        if path != "/comment/productPageComments.action":
            return _not_found(path)
        pid = q.get("productId", "")
        reviews = self.world.jd.get(pid)
        if reviews is None:
            return Reply(body=b"{}", ctype="application/json;charset=GBK")
        body = render.jd_comments(pid, reviews, int(q.get("page") or 0), q.get("callback") or "fetchJSON_comment98")
        return Reply(body=body, ctype="text/html;charset=GBK")

    # Dianping -----------------------------------------------------------------------------------
    def dianping(self, path: str, q: dict) -> Reply:
        if path == self.sprite.css_path():
            return Reply(body=self.sprite.css(), ctype="text/css")
        if path == self.sprite.svg_path():
            return Reply(body=self.sprite.svg(), ctype="image/svg+xml")
        m = re.fullmatch(r"/shop/([A-Za-z0-9]+)/review_all(?:/p(\d+))?", path)
        if m:
            reviews = self.world.dianping.get(m.group(1))
            if reviews is None:
                return _not_found(path)
            page = int(m.group(2) or 1)
            return Reply(body=render.dianping_review_page(m.group(1), SHOP_NAME, reviews, page, self.sprite))
        if path.startswith("/mod/") or path.endswith(".css"):
            return Reply(body="", ctype="text/css")
        return _not_found(path)

    # Discuz -------------------------------------------------------------------------------------
    def discuz(self, path: str, q: dict) -> Reply:
        gbk = "text/html; charset=gbk"
        m = re.fullmatch(r"/forum-(\d+)-(\d+)\.html", path)
        if m:
            path, q = "/forum.php", {"mod": "forumdisplay", "fid": m.group(1), "page": m.group(2)}
        m = re.fullmatch(r"/thread-(\d+)-(\d+)-\d+\.html", path)
        if m:
            path, q = "/forum.php", {"mod": "viewthread", "tid": m.group(1), "page": m.group(2)}
        if path != "/forum.php":
            return _not_found(path)
        page = max(1, int(q.get("page") or 1))
        if q.get("mod") == "forumdisplay":
            threads = self.world.discuz.get(q.get("fid", ""))
            if threads is None:
                return _not_found(path)
            return Reply(body=render.discuz_forumdisplay(q["fid"], threads, page), ctype=gbk)
        if q.get("mod") == "viewthread":
            for fid, threads in self.world.discuz.items():
                for t in threads:
                    if t.tid == q.get("tid"):
                        return Reply(body=render.discuz_viewthread(fid, t, page, self.world.now), ctype=gbk)
        return _not_found(path)


def _misbehave(fault, reply: Reply) -> Reply:
    if fault.action == "status":
        return Reply(fault.status, f"<html><head><title>{fault.status}</title></head><body><center><h1>"
                                   f"{fault.status}</h1></center></body></html>")
    if fault.action == "truncate":
        return Reply(reply.status, reply.body[: len(reply.body) // 2], reply.ctype, reply.headers)
    if fault.action == "captcha":
        return Reply(200, CAPTCHA, "application/json; charset=utf-8")
    if fault.action == "login":
        return Reply(302, "", headers={"Location": "/passport.weibo.com/visitor/visitor?entry=miniblog&a=enter"})
    if fault.action == "charset":
        return Reply(reply.status, reply.body, reply.ctype.split(";")[0], reply.headers)
    return reply


class ReplaySite:
    """The replay site on a loopback port, in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int = 7, now: datetime | None = None,
                 delay_s: float = 0.0, scale: int = 1):
        self.app = ReplayApp(build_world(now or datetime.now(UTC), seed, scale))
        self.requests: Counter[str] = Counter()
        self.delay_s = delay_s
        self.faults = Faults()
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server API)
                if self.path.startswith("/__replay/stats"):
                    with site._lock:
                        body = json.dumps(dict(site.requests), ensure_ascii=False).encode()
                    return self._send(Reply(body=body, ctype="application/json"))
                with site._lock:
                    site.requests[unquote(self.path)] += 1
                if site.delay_s:
                    time.sleep(site.delay_s)
                fault = site.faults.take(unquote(self.path))
                if fault is not None and fault.action == "drop":
                    self.close_connection = True
                    return
                if fault is not None and fault.action == "timeout":
                    time.sleep(fault.seconds)
                try:
                    reply = site.app.handle(self.path)
                except Exception:  # a bug in a template must show up as a 500, not a dead server
                    log.exception("replay site failed on %s", self.path)
                    reply = Reply(500, "<html><body>internal error</body></html>")
                if fault is not None:
                    reply = _misbehave(fault, reply)
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                # the client may have gone away (a killed crawler): nothing to answer then
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._write(reply)

            def _write(self, reply: Reply) -> None:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.ctype)
                self.send_header("Content-Length", str(len(reply.body)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, fmt, *args):
                log.debug("replay: " + fmt, *args)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def base_urls(self) -> dict[str, str]:
        """`-a base_url=` for every spider (scheduler: `--base-url SPIDER=URL`)."""
        return {spider: f"{self.url}/{host}" for spider, host in HOSTS.items()}

    def fetches(self, prefix: str = "") -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in self.requests.items() if k.startswith(prefix)}

    def start(self) -> ReplaySite:
        self._thread = threading.Thread(target=self.server.serve_forever, name="replay-site", daemon=True)
        self._thread.start()
        log.info("replay site on %s", self.url)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> ReplaySite:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# Politeness is for real sites: against the loopback replay site crawls run at full speed, and a
# block is given up on after short retries instead of minutes of backoff.
REPLAY_CRAWL_SETTINGS = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "RANDOMIZE_DOWNLOAD_DELAY": "False",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "4",
    "BLOCK_BACKOFF_BASE": "0.05",
    "BLOCK_BACKOFF_MAX": "0.2",
    "RETRY_TIMES": "1",
}
