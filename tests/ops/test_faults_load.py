"""The API under load (real uvicorn, real HTTP) while crawlers and a batch ingest write the embedded
store: no errors, no "database is locked"."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from ops_testkit import ROOT, free_port, stored

from ops.replay.content import DISCUZ_FID, HOTPOT_KEYWORD, JD_PRODUCT, PHONE_KEYWORD, TIEBA_FORUM
from ops.replay.server import REPLAY_CRAWL_SETTINGS, ReplaySite

pytestmark = pytest.mark.slow
ADMIN = "opm_loadtest_admin_key_0123456789abcdef"


def _crawler(spider, args, base, tmp, env):
    sets = {**REPLAY_CRAWL_SETTINGS, "STORE_BATCH_SIZE": "5", "LOG_FILE": str(tmp / f"{spider}.log")}
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider, "-a", f"base_url={base}"]
    for k, v in args.items():
        cmd += ["-a", f"{k}={v}"]
    for k, v in sets.items():
        cmd += ["-s", f"{k}={v}"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_api_under_load_while_crawlers_write(tmp_path):
    port = free_port()
    env = {**os.environ, "OPMON_DATA_DIR": str(tmp_path / "data"), "OPMON_NLP_ENABLED": "false",
           "OPMON_ADMIN_KEY": ADMIN, "OPMON_RATE_LIMIT_PER_MINUTE": "1000000"}
    api_log = tmp_path / "api.log"
    with open(api_log, "w") as log:
        api = subprocess.Popen([sys.executable, "-m", "core.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert api.poll() is None and time.monotonic() < deadline, api_log.read_text()[-2000:]
            time.sleep(0.2)

        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        errors: list[str] = []
        stop = threading.Event()
        since = (datetime.now(UTC) - timedelta(days=2)).isoformat()
        reads = [("/v1/mentions", {"limit": 20}), ("/v1/mentions", {"q": "电池", "limit": 20}),
                 ("/v1/mentions", {"source": "tieba", "limit": 50}),
                 ("/v1/trends", {"brand": "澜鲸", "interval": "hour", "since": since}),
                 ("/v1/export", {"limit": 200})]

        def reader(i):
            with httpx.Client(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as c:
                n = i
                while not stop.is_set():
                    path, params = reads[n % len(reads)]
                    n += 1
                    t = time.perf_counter()
                    try:
                        r = c.get(path, params=params)
                        statuses[r.status_code] += 1
                        if r.status_code != 200:
                            errors.append(f"{path} {r.status_code} {r.text[:200]}")
                    except httpx.HTTPError as exc:
                        errors.append(f"{path} {exc!r}")
                    latencies.append(time.perf_counter() - t)

        def ingester():
            with httpx.Client(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as c:
                k = 0
                while not stop.is_set():
                    batch = [{"id": f"weibo:load-{k}-{j}", "source": "weibo", "kind": "post",
                              "text": f"澜鲸手机 压测第{k}批第{j}条", "published_at": datetime.now(UTC).isoformat()}
                             for j in range(20)]
                    r = c.post("/v1/mentions:batch", json={"mentions": batch})
                    statuses[r.status_code] += 1
                    if r.status_code != 200:
                        errors.append(f"batch {r.status_code} {r.text[:200]}")
                    k += 1

        with ReplaySite(scale=2) as site:
            urls = site.base_urls()
            crawls = [
                _crawler("weibo", {"keyword": PHONE_KEYWORD}, urls["weibo"], tmp_path, env),
                _crawler("weibo_search", {"keyword": HOTPOT_KEYWORD}, urls["weibo_search"], tmp_path, env),
                _crawler("tieba", {"forum": TIEBA_FORUM}, urls["tieba"], tmp_path, env),
                _crawler("jd", {"product_id": JD_PRODUCT, "pages": "20"}, urls["jd"], tmp_path, env),
                _crawler("discuz", {"fid": DISCUZ_FID, "site": "bbs.chihuo.example"}, urls["discuz"], tmp_path, env),
            ]
            threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
            threads.append(threading.Thread(target=ingester))
            for t in threads:
                t.start()
            codes = [p.wait(timeout=240) for p in crawls]
            stop.set()
            for t in threads:
                t.join(timeout=60)
            world = site.app.world
        crawl_stderr = "".join(p.stderr.read() for p in crawls)
    finally:
        api.terminate()
        api.wait(timeout=30)

    api_out = api_log.read_text()
    logs = "".join((tmp_path / f"{s}.log").read_text() for s in ("weibo", "weibo_search", "tieba", "jd", "discuz"))
    assert codes == [0] * 5, crawl_stderr[-2000:]
    assert not errors, errors[:10]
    assert statuses[200] > 100 and set(statuses) == {200}, statuses
    for text in (api_out, logs, crawl_stderr):
        assert "database is locked" not in text.lower()
        assert "Traceback" not in text
    # every crawled mention is in the store despite the concurrent readers and the ingest
    expected = (len(world.weibo[PHONE_KEYWORD]) + len(world.weibo[HOTPOT_KEYWORD]))
    assert stored(tmp_path, sources=["weibo"]) >= expected
    assert stored(tmp_path, sources=["tieba"]) == sum(len(t.floors) for t in world.tieba[TIEBA_FORUM])
    assert stored(tmp_path, sources=["jd"]) == len(world.jd[JD_PRODUCT])
    qs = statistics.quantiles(latencies, n=20)
    print(f"{len(latencies)} reads, p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {qs[-1] * 1000:.0f} ms; "
          f"statuses {dict(statuses)}")
