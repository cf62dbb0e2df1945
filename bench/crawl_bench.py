"""Crawl benchmark: the `weibo` spider end to end vs. a raw Scrapy spider fetching the same pages.

    nice -n 10 python bench/crawl_bench.py [--pages 2000] [--per-page 10] [--concurrency 16] [--skip-nlp] [--skip-ab]
                                           [--in-thread]

Generates PAGES m.weibo.cn getIndex search pages (card_type 11 groups, HTML texts with emoticons and
@names, string counts, RFC-2822-like dates) and serves them from a local keep-alive HTTP server in
its own process. Then, in this one run, as `scrapy crawl` subprocesses with the same concurrency:

1. raw   — a bare Scrapy spider that requests every page URL and does nothing with the response
           (no project middlewares, pipelines or extensions): the fetch baseline;
1b. Scrapy per-item floor — the same bare spider yielding PER_PAGE trivial dicts ({"n": i}) per page,
           no pipelines, with the project's GC tuning and CONCURRENT_ITEMS: what Scrapy's own item
           machinery costs before any parsing or stage runs (the ceiling of any per-mention design);
2. weibo, no pipelines — the project spider and middlewares, ITEM_PIPELINES={} (diagnostic: the cost
           of parsing and of Scrapy moving each item, before any stage runs);
3. weibo, NLP off — parse → validate → brands → dedupe → SQLite store (fresh DB);
4. weibo, NLP on  — the same plus sentiment/keywords/aspects in batches, scored in the NLP worker
           process (the project defaults; skipped, and reported as pending, when the model cannot load);
5. A/B of the NLP worker layout (`--skip-ab` leaves them out): one worker with the NLP package's
           own thread choice (`NLP_WORKER_THREADS=auto`: on 2 cores one torch thread plus the
           ensemble's linear half beside it; the default before session 3, which now gives a worker
           on <= 2 cores one thread) and two workers with one thread each (`NLP_PROCESSES=2`);
           `--in-thread` adds NLP_PROCESSES=0 (the model on a thread of the crawl process).

Prints pages/s and mentions/s for each (from the crawl's start_time to the end of its last
pipeline flush; the model loads before start_time), the whole process's wall time (start-up and
model load included) and its CPU seconds, split for NLP-on runs into the crawl process and the NLP
worker(s), the worker's share split again into start-up (spawn, imports, model load) and scoring.
Targets: NLP off >= 0.7x raw pages/s; NLP on >= 1,000 mentions/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

REPO = Path(__file__).resolve().parents[1]
KEYWORD = "小米"
CST = timezone(timedelta(hours=8))

_SUBJECTS = ["小米手机", "小米汽车", "小米之家", "红米", "小米客服", "小米售后", "小米14", "小米电视", "小米手环"]
_OPINIONS = ["屏幕质量不错", "续航太差了", "客服态度很好", "物流太慢", "售后一直推脱", "拍照效果惊艳",
             "系统经常卡顿", "价格实惠", "做工粗糙", "充电很快", "发热严重", "包装很用心", "退款流程麻烦",
             "门店服务热情", "排队两个小时", "信号不好", "音质一般", "性价比很高"]
_TAILS = ["，推荐购买", "，不会再买了", "，总体满意", "，希望改进", "。", "！！", "，大家怎么看？", ""]
_EMO = ["[怒]", "[doge]", "[赞]", "[泪]", "[允悲]", "[哈哈]"]


def make_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 3)):
        parts.append(f"{rng.choice(_SUBJECTS)}{rng.choice(_OPINIONS)}{rng.choice(_TAILS)}")
    text = "".join(parts) + f" 第{rng.randint(1, 10**6)}号"
    if rng.random() < 0.5:
        emo = rng.choice(_EMO)
        text += (f'<span class="url-icon"><img alt={emo} src="//h5.sinaimg.cn/m/emoticon/icon/d.png" '
                 f'style="width:1em; height:1em;" /></span>')
    if rng.random() < 0.3:
        nick = f"用户{rng.randint(1000, 9999)}"
        text = f"<a href='/n/{nick}'>@{nick}</a> " + text
    if rng.random() < 0.2:
        text += '<br /><a data-hide=""><span class="surl-text">#小米售后#</span></a>'
    return text


def make_page(page: int, per_page: int, start: datetime) -> bytes:
    rng = random.Random(page)
    group = []
    for i in range(per_page):
        n = page * per_page + i
        created = start - timedelta(minutes=n)
        mblog = {
            "created_at": created.strftime("%a %b %d %H:%M:%S +0800 %Y"),
            "id": str(4_900_000_000_000_000 + n), "mid": str(4_900_000_000_000_000 + n), "bid": f"B{n}",
            "text": make_text(rng), "isLongText": False, "source": "iPhone客户端",
            "user": {"id": 1_000_000 + rng.randint(0, 50_000), "screen_name": f"用户{rng.randint(0, 99999)}",
                     "verified": rng.random() < 0.1,
                     "followers_count": rng.choice([12, 345, "1.2万", "36.2万"])},
            "reposts_count": rng.choice([0, 3, "1.2万"]), "comments_count": rng.randint(0, 50),
            "attitudes_count": rng.choice([0, 7, "100万+"]), "region_name": "发布于 北京", "mblogtype": 0,
        }
        group.append({"card_type": 9, "itemid": f"seqid:{n}", "mblog": mblog})
    body = {"ok": 1, "data": {"cardlistInfo": {"page": page + 1, "total": 99999},
                              "cards": [{"card_type": 11, "card_group": group}]}}
    return json.dumps(body, ensure_ascii=False).encode()


def serve(port_q, pages: int, per_page: int) -> None:
    start = datetime(2026, 11, 22, 12, 0, tzinfo=CST)
    bodies = {p: make_page(p - 1, per_page, start) for p in range(1, pages + 1)}
    empty = json.dumps({"ok": 0, "msg": "这里还没有内容", "data": {"cards": []}}, ensure_ascii=False).encode()
    home = b"<html><body>m.weibo.cn</body></html>"

    def response(body: bytes, ctype: bytes) -> bytes:
        return (b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\nConnection: keep-alive\r\n\r\n" + body)

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                parts = urlsplit(target)
                if parts.path == "/api/container/getIndex":
                    page = int(parse_qs(parts.query).get("page", ["1"])[0])
                    writer.write(response(bodies.get(page, empty), b"application/json; charset=utf-8"))
                else:
                    writer.write(response(home, b"text/html; charset=utf-8"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = await asyncio.start_server(handle, sock=sock, backlog=512)
        port_q.put(sock.getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


RAW_SPIDER = textwrap.dedent('''
    import scrapy
    from urllib.parse import quote

    class RawSpider(scrapy.Spider):
        name = "raw"
        custom_settings = {"ITEM_PIPELINES": {}, "SPIDER_MIDDLEWARES": {}, "EXTENSIONS": {},
                           "DOWNLOADER_MIDDLEWARES": {}}

        def __init__(self, base_url, pages, items="0", **kw):
            super().__init__(**kw)
            self.base_url, self.pages, self.items = base_url, int(pages), int(items)

        async def start(self):
            cid = quote("100103type=1&q=小米", safe="")
            for n in range(1, self.pages + 1):
                yield scrapy.Request(f"{self.base_url}/api/container/getIndex?containerid={cid}"
                                     f"&page_type=searchall&page={n}", callback=self.parse)

        def parse(self, response):
            for n in range(self.items):  # the floor run: Scrapy moving N trivial items, nothing else
                yield {"n": n}

        def closed(self, reason):
            import datetime, json, os
            s = self.crawler.stats
            started = s.get_value("start_time")
            elapsed = (datetime.datetime.now(started.tzinfo) - started).total_seconds()
            with open(os.environ["BENCH_RAW_OUT"], "w") as f:
                json.dump({"elapsed_s": elapsed, "finish_reason": reason,
                           "stats": {"response_received_count": s.get_value("response_received_count", 0),
                                     "item_scraped_count": s.get_value("item_scraped_count", 0)}}, f)
''')


def crawl(args: list[str], env: dict, tmp: Path, name: str, summary_env: str | None = None) -> dict:
    summary = tmp / f"{name}.json"
    common = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "LOG_LEVEL=WARNING",
              "-s", f"CONCURRENT_REQUESTS={ARGS.concurrency}", "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={ARGS.concurrency}",
              "-s", "RETRY_TIMES=0", "-s", f"CRAWL_SUMMARY_FILE={summary}"]
    full_env = {**os.environ, **env}
    if summary_env:
        full_env[summary_env] = str(summary)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "scrapy", *args, *common], cwd=REPO, env=full_env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if not summary.exists():
        print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"{name}: crawl failed (rc={proc.returncode})")
    data = json.loads(summary.read_text())
    data["log_tail"] = proc.stderr[-1500:]
    data["cpu_s"] = cpu
    data["process_wall_s"] = wall
    return data


def figures(data: dict) -> tuple[float, float, float, int, int, float, float]:
    s = data["stats"]
    elapsed = float(data["elapsed_s"])
    pages = int(s.get("response_received_count", 0))
    items = int(s.get("item_scraped_count", 0))
    return elapsed, pages / elapsed, items / elapsed, pages, items, data["cpu_s"], data["process_wall_s"]


def cpu_split(data: dict) -> str:
    """Where an NLP-on crawl's CPU went: the crawl process vs the worker(s), start-up vs scoring."""
    s = data["stats"]
    total = s.get("pipeline/nlp/worker_total_cpu_ms", 0) / 1000
    if not total:
        return ""
    start = s.get("pipeline/nlp/worker_start_cpu_ms", 0) / 1000
    scoring = s.get("pipeline/nlp/worker_cpu_ms", 0) / 1000
    return (f"crawl process {data['cpu_s'] - total:.1f} + NLP worker(s) {total:.1f} (workers' start-up "
            f"{start:.1f}, scoring {scoring:.1f}, rest {total - start - scoring:.1f})")


def stage_breakdown(pages: int, per_page: int, nlp: bool = False) -> list[tuple[str, float]]:
    """CPU microseconds per mention for each stage, called directly (no Scrapy), same pages."""

    from scrapy.utils.test import get_crawler

    from core.mention import Mention
    from crawlers.pipelines.brands import BrandPipeline
    from crawlers.pipelines.dedupe import DedupePipeline
    from crawlers.spiders.weibo import iter_mblogs, mblog_item
    from store.sqlite import SqliteStore

    start = datetime(2026, 11, 22, 12, 0, tzinfo=CST)
    bodies = [make_page(p, per_page, start) for p in range(pages)]
    out = []
    t = time.process_time()
    items = []
    for body in bodies:
        mblogs, _ = iter_mblogs(json.loads(body)["data"]["cards"])
        items.extend(mblog_item(m, KEYWORD) for m in mblogs)
    n = len(items)
    out.append(("parse page JSON + mblog -> dict", (time.process_time() - t) / n * 1e6))
    t = time.process_time()
    mentions = [Mention.model_validate(i) for i in items]
    out.append(("validate (Mention model)", (time.process_time() - t) / n * 1e6))
    crawler = get_crawler(settings_dict={})
    brands = BrandPipeline.from_crawler(crawler)
    brands.open_spider()
    t = time.process_time()
    for m in mentions:
        brands.process_item(m)
    out.append((f"brand matching ({len(brands.brands)} brands)", (time.process_time() - t) / n * 1e6))
    dedupe = DedupePipeline.from_crawler(crawler)
    t = time.process_time()
    for m in mentions:
        dedupe.process_item(m)
    out.append(("dedupe (id + MinHash near-duplicates)", (time.process_time() - t) / n * 1e6))
    with tempfile.TemporaryDirectory() as d:
        store = SqliteStore(Path(d) / "m.db")
        store.open()
        t = time.process_time()
        for i in range(0, n, 500):
            store.upsert(mentions[i:i + 500])
        out.append(("SQLite store upsert (batches of 500)", (time.process_time() - t) / n * 1e6))
        store.close()
    if nlp:  # what the NLP worker does per batch, in this process with one torch thread
        from core.settings import get_settings
        from nlp.analyzer import Analyzer

        os.environ["OPMON_NLP_ENABLED"] = "true"
        get_settings.cache_clear()
        analyzer = Analyzer.from_settings(get_settings().model_copy(update={"torch_threads": 1}))
        sample = mentions[:3000]
        analyzer.analyze(mentions[-256:])  # warm-up (load, caches) on other texts
        t = time.process_time()
        for i in range(0, len(sample), 256):
            analyzer.analyze(sample[i:i + 256])
        out.append(("Analyzer.analyze, 1 torch thread (batches of 256)", (time.process_time() - t) / len(sample) * 1e6))
    return out


def main() -> None:
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--per-page", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--skip-nlp", action="store_true")
    ap.add_argument("--skip-ab", action="store_true", help="leave out the NLP worker-layout A/B runs")
    ap.add_argument("--in-thread", action="store_true", help="add the in-thread NLP run (NLP_PROCESSES=0)")
    ARGS = ap.parse_args()

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    server = ctx.Process(target=serve, args=(q, ARGS.pages, ARGS.per_page), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{q.get(timeout=120)}"
    print(f"serving {ARGS.pages} generated search pages x {ARGS.per_page} posts at {base}; "
          f"concurrency {ARGS.concurrency}")
    rows = []
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            raw_file = tmp / "raw_spider.py"
            raw_file.write_text(RAW_SPIDER, encoding="utf-8")
            raw = crawl(["runspider", str(raw_file), "-a", f"base_url={base}", "-a", f"pages={ARGS.pages}"],
                        {"OPMON_NLP_ENABLED": "false"}, tmp, "raw", summary_env="BENCH_RAW_OUT")
            rows.append(("raw fetch (baseline)", *figures(raw)))
            floor = crawl(["runspider", str(raw_file), "-a", f"base_url={base}", "-a", f"pages={ARGS.pages}",
                           "-a", f"items={ARGS.per_page}", "-s", 'EXTENSIONS={"crawlers.extensions.GcTuning": 900}',
                           "-s", "CONCURRENT_ITEMS=16"],
                          {"OPMON_NLP_ENABLED": "false"}, tmp, "floor", summary_env="BENCH_RAW_OUT")
            rows.append((f"Scrapy floor: {ARGS.per_page} empty items/page, no parse", *figures(floor)))
            weibo = ["crawl", "weibo", "-a", f"keyword={KEYWORD}", "-a", f"pages={ARGS.pages}", "-a",
                     f"base_url={base}", "-s", f"PAGE_LOOKAHEAD={ARGS.concurrency}"]
            bare = crawl([*weibo, "-s", "ITEM_PIPELINES={}"],
                         {"OPMON_NLP_ENABLED": "false", "OPMON_DATA_DIR": str(tmp / "bare")}, tmp, "bare")
            rows.append(("weibo, no pipelines (parse + Scrapy per item)", *figures(bare)))
            off = crawl(weibo, {"OPMON_NLP_ENABLED": "false", "OPMON_DATA_DIR": str(tmp / "off")}, tmp, "off")
            rows.append(("weibo, NLP off (parse+validate+brands+dedupe+store)", *figures(off)))
            on = None
            splits = []
            if not ARGS.skip_nlp:
                on = crawl(weibo, {"OPMON_NLP_ENABLED": "true", "OPMON_DATA_DIR": str(tmp / "on")}, tmp, "on")
                if on["stats"].get("pipeline/nlp/unavailable"):
                    print("NLP on: model unavailable -> figure pending:\n", on["log_tail"][-600:])
                    on = None
                else:
                    rows.append(("weibo, NLP on (+ sentiment etc., defaults)", *figures(on)))
                    splits.append((rows[-1][0], cpu_split(on)))
                variants = [] if on is None or ARGS.skip_ab else [
                    ("weibo, NLP on, NLP_WORKER_THREADS=auto (A/B)", ["-s", "NLP_WORKER_THREADS=auto"]),
                    ("weibo, NLP on, 2 workers x 1 thread (A/B)", ["-s", "NLP_PROCESSES=2", "-s",
                                                                   "NLP_WORKER_THREADS=1"]),
                ]
                if on is not None and ARGS.in_thread:
                    variants.append(("weibo, NLP on, in-thread (NLP_PROCESSES=0, A/B)", ["-s", "NLP_PROCESSES=0"]))
                for i, (label, extra) in enumerate(variants):
                    data = crawl([*weibo, *extra], {"OPMON_NLP_ENABLED": "true", "OPMON_DATA_DIR": str(tmp / f"ab{i}")},
                                 tmp, f"ab{i}")
                    rows.append((label, *figures(data)))
                    splits.append((label, cpu_split(data)))
    finally:
        server.terminate()

    raw_pps = rows[0][2]
    print(f"\n{'run':<55} {'wall s':>7} {'pages':>6} {'items':>7} {'pages/s':>8} {'items/s':>8} {'vs raw':>7}"
          f" {'CPU s':>6} {'proc s':>7}")
    for name, elapsed, pps, ips, pages, items, cpu, proc_wall in rows:
        print(f"{name:<55} {elapsed:7.1f} {pages:6d} {items:7d} {pps:8.1f} {ips:8.1f} {pps / raw_pps:6.2f}x"
              f" {cpu:6.1f} {proc_wall:7.1f}")
    print("(wall s: from the crawl's start to its last flush; proc s: the whole `scrapy crawl` process, start-up"
          " and model load included; CPU s: user+sys of the crawl process and its NLP worker(s), start-ups"
          f" included; load average at the end: {os.getloadavg()[0]:.1f})")
    for name, split in splits:
        if split:
            print(f"  {name}: {split}")
    off_ratio = rows[3][2] / raw_pps
    floor_ratio = rows[1][2] / raw_pps
    print(f"\ntarget NLP off >= 0.70x raw pages/s: {off_ratio:.2f}x -> {'OK' if off_ratio >= 0.7 else 'MISSED'}")
    print(f"  Scrapy's own per-item floor ({ARGS.per_page} trivial items per page, nothing parsed or stored): "
          f"{floor_ratio:.2f}x raw; {1e3 / rows[1][2] - 1e3 / raw_pps:.2f} ms per page of the "
          f"{1e3 / (0.7 * raw_pps) - 1e3 / raw_pps:.2f} ms the 0.7x target allows")
    if on is not None:
        ips = rows[4][3]
        print(f"target NLP on >= 1000 mentions/s: {ips:.0f}/s -> {'OK' if ips >= 1000 else 'MISSED'}")
        worker_s = on["stats"].get("pipeline/nlp/worker_cpu_ms", 0) / 1000
        if worker_s:
            print(f"  NLP worker(s): {worker_s:.1f} CPU s scoring ({worker_s / max(1, rows[4][5]) * 1e3:.2f} ms per"
                  f" mention, all threads) in {rows[4][1]:.1f} s of crawl: {worker_s / rows[4][1]:.2f} cores")
    else:
        print("target NLP on >= 1000 mentions/s: pending (NLP model not available in this run)")
    n = min(ARGS.pages, 2000)  # all pages: dedupe's cost grows with the number of texts indexed
    print(f"\nwhere a mention's CPU time goes (stages called directly, no Scrapy, {n} pages):")
    for name, us in stage_breakdown(n, ARGS.per_page, nlp=on is not None):
        print(f"  {name:<45} {us:7.1f} µs")


ARGS = None

if __name__ == "__main__":
    main()
