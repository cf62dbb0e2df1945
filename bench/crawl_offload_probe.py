"""Probe: would moving the item stages out of the crawl process reach 0.7x the raw fetch rate?

    python bench/crawl_offload_probe.py [--pages 2000] [--per-page 10] [--concurrency 16] [--repeat 2]

Not a product mode: an experiment that measures the ceiling of the one design that could meet issue
#3's NLP-off target on 2 cores (docs/benchmarks.md, `## Crawl`). Same generated pages and server as
bench/crawl_bench.py; in one run, alternately:

1. raw    — the bare fetch spider of crawl_bench.py (the baseline);
2. weibo  — the project as shipped, NLP off (per-mention items through validate/brands/dedupe/store);
3. probe  — the same spider, but a spider middleware folds each page's items into ONE item, and a
            single pipeline ships it (pickled dicts) to a worker process that runs the project's own
            validate -> brands -> dedupe stages per mention and `Store.upsert` in batches of 500.
            No feed export, no per-mention item accounting, no crash safety: the parts the product
            would still need.

Prints each run's rate and ratio, its CPU split (crawl process / probe worker / page server) and the
minimum wall time those CPU seconds allow on this machine's cores.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import crawl_bench  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class PageBatch(list):
    """One page's mention dicts, moved through Scrapy as a single item."""


class PageBatcher:
    """Spider middleware closest to the spider: requests pass, a page's items leave as one PageBatch."""

    @classmethod
    def from_crawler(cls, crawler):
        return cls()

    async def process_spider_output(self, response, result):
        batch = PageBatch()
        async for out in result:
            if isinstance(out, dict):
                batch.append(out)
            else:
                yield out
        if batch:
            yield batch


def stage_worker(conn, keyword: str) -> None:
    """Runs in the worker process: the project's stages, called directly, then the store."""
    from scrapy.exceptions import DropItem
    from scrapy.utils.test import get_crawler

    from core.settings import get_settings
    from crawlers.pipelines.brands import BrandPipeline
    from crawlers.pipelines.dedupe import DedupePipeline
    from crawlers.pipelines.validate import ValidatePipeline
    from store.factory import open_store

    class SpiderFacts:
        name, since = "weibo", None

        def __init__(self):
            self.keyword = keyword

        def note_published(self, when):
            pass

    crawler = get_crawler(settings_dict={})
    crawler.spider = SpiderFacts()
    validate, brands, dedupe = (ValidatePipeline.from_crawler(crawler), BrandPipeline.from_crawler(crawler),
                                DedupePipeline.from_crawler(crawler))
    brands.open_spider()
    store = open_store(get_settings())
    cpu_ready = time.process_time()
    pending, stored, dropped = [], 0, 0
    while (page := conn.recv()) is not None:
        for item in page:
            try:
                pending.append(dedupe.process_item(brands.process_item(validate.process_item(item))))
            except DropItem:
                dropped += 1
        if len(pending) >= 500:
            stored += store.upsert(pending).inserted
            pending = []
    if pending:
        stored += store.upsert(pending).inserted
    store.close()
    conn.send({"stored": stored, "dropped": dropped, "start_cpu_s": cpu_ready,
               "work_cpu_s": time.process_time() - cpu_ready})


class OffloadPipeline:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=stage_worker, args=(child, self.crawler.spider.keyword))
        self.proc.start()

    def process_item(self, item):
        self.conn.send(list(item))
        return item

    def close_spider(self):
        self.conn.send(None)
        for key, value in self.conn.recv().items():
            self.crawler.stats.set_value(f"probe/{key}", value)
        self.proc.join()


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--per-page", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    crawl_bench.ARGS = args
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    server = ctx.Process(target=crawl_bench.serve, args=(q, args.pages, args.per_page), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{q.get(timeout=120)}"
    cores = len(os.sched_getaffinity(0))
    env_path = os.pathsep.join([str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")])
    rows = []
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            raw_file = tmp / "raw_spider.py"
            raw_file.write_text(crawl_bench.RAW_SPIDER, encoding="utf-8")
            weibo = ["crawl", "weibo", "-a", f"keyword={crawl_bench.KEYWORD}", "-a", f"pages={args.pages}",
                     "-a", f"base_url={base}", "-s", f"PAGE_LOOKAHEAD={args.concurrency}"]
            probe = [*weibo, "-s", 'ITEM_PIPELINES={"crawl_offload_probe.OffloadPipeline": 100}', "-s",
                     'SPIDER_MIDDLEWARES={"crawlers.middlewares.BaseUrlSpiderMiddleware": 950, '
                     '"crawl_offload_probe.PageBatcher": 1000}']
            runs = [("raw fetch (baseline)", ["runspider", str(raw_file), "-a", f"base_url={base}", "-a",
                                              f"pages={args.pages}"], "BENCH_RAW_OUT"),
                    ("weibo, NLP off, as shipped", weibo, None),
                    ("probe: page items + stages in a worker process", probe, None)]
            for rep in range(args.repeat):
                for i, (label, argv, summary_env) in enumerate(runs):
                    name = f"r{rep}_{i}"
                    env = {"OPMON_NLP_ENABLED": "false", "OPMON_DATA_DIR": str(tmp / name), "PYTHONPATH": env_path}
                    server_before = proc_cpu_s(server.pid)
                    data = crawl_bench.crawl(argv, env, tmp, name, summary_env=summary_env)
                    server_cpu = proc_cpu_s(server.pid) - server_before
                    rows.append((rep, label, data, server_cpu))
    finally:
        server.terminate()

    raw = {rep: data for rep, label, data, _ in rows if label.startswith("raw")}
    print(f"{args.pages} pages x {args.per_page} posts, concurrency {args.concurrency}, {cores} cores\n")
    print(f"{'run':<50} {'wall s':>6} {'pages/s':>8} {'vs raw':>7} {'crawl CPU':>9} {'worker':>7} {'server':>7}"
          f" {'floor s':>7}")
    for rep, label, data, server_cpu in rows:
        elapsed, pps, _, _, items, cpu, _ = crawl_bench.figures(data)
        stats = data["stats"]
        worker = stats.get("probe/work_cpu_s", 0.0)
        crawl_cpu = cpu - worker - stats.get("probe/start_cpu_s", 0.0)
        raw_pps = crawl_bench.figures(raw[rep])[1]
        floor = (crawl_cpu + worker + server_cpu) / cores  # CPU seconds spread perfectly over the cores
        print(f"{label:<50} {elapsed:6.2f} {pps:8.1f} {pps / raw_pps:6.2f}x {crawl_cpu:9.2f} {worker:7.2f}"
              f" {server_cpu:7.2f} {floor:7.2f}")
        if "probe/stored" in stats:
            print(f"{'':<50} stored {stats['probe/stored']}, dropped {stats['probe/dropped']}")
    print("\n(crawl CPU: the scrapy process, start-up included, probe worker excluded; worker: the probe worker's"
          " stage CPU after its start-up; server: the page server's CPU during the run; floor: all of it"
          " spread perfectly over the cores)")


if __name__ == "__main__":
    main()
