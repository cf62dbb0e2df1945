"""A site that misbehaves on purpose (real server, real `scrapy crawl`): spiders retry with backoff,
end `blocked` when they must, never crash, and lose no item already parsed."""

from __future__ import annotations

import pytest
from ops_testkit import run_crawl, stored

from ops.replay.content import DISCUZ_FID, PHONE_KEYWORD
from ops.replay.faults import Fault
from ops.replay.server import ReplaySite

pytestmark = pytest.mark.slow

PAGE = r"/m\.weibo\.cn/api/container/getIndex.*&page={}$"
POSTS = 46  # the replay world's posts for the phone keyword (5 pages)

# scenario -> (faults, expected finish_reason, expected items (None = at least the pages before the fault),
#              stat that must show the fault was seen)
SCENARIOS = {
    "http_500_twice": ([Fault(PAGE.format(2), "status", status=500, times=2)], "finished", POSTS,
                       "retry/count"),
    "timeout_once": ([Fault(PAGE.format(3), "timeout", seconds=4, times=1)], "finished", POSTS,
                     "retry/count"),
    "connection_dropped": ([Fault(PAGE.format(2), "drop", times=1)], "finished", POSTS, "retry/count"),
    "truncated_json": ([Fault(PAGE.format(3), "truncate", times=None)], "finished", None, None),
    "http_429": ([Fault(PAGE.format(3), "status", status=429, times=None)], "blocked", None, "blocked/"),
    "http_418": ([Fault(PAGE.format(2), "status", status=418, times=None)], "blocked", None, "blocked/"),
    "http_432": ([Fault(PAGE.format(3), "status", status=432, times=None)], "blocked", None, "blocked/"),
    "captcha_json": ([Fault(PAGE.format(2), "captcha", times=None)], "blocked", None, "blocked/"),
    "login_redirect": ([Fault(PAGE.format(2), "login", times=None)], "blocked", None, "blocked/"),
}


def _run(name: str, tmp) -> tuple:
    faults = SCENARIOS[name][0]
    with ReplaySite() as site:
        for f in faults:
            site.faults.add(f)
        rc, summary, log = run_crawl("weibo", {"keyword": PHONE_KEYWORD}, site.base_urls()["weibo"], tmp / name,
                                     settings={"DOWNLOAD_TIMEOUT": "2", "RETRY_TIMES": "3"})
        return rc, summary, log, sum(f.fired for f in faults)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """All scenarios at once (each its own server and crawl process): the module costs one crawl's time."""
    from concurrent.futures import ThreadPoolExecutor

    tmp = tmp_path_factory.mktemp("faults")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_run, name, tmp) for name in SCENARIOS}
        return {name: (f.result(), tmp / name) for name, f in futures.items()}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_weibo_spider_under_faults(name, outcomes):
    _, reason, items, stat = SCENARIOS[name]
    (rc, summary, log, fired), workdir = outcomes[name]
    assert rc == (3 if reason == "blocked" else 0), log[-3000:]  # `scrapy crawl` exits 3 when blocked
    assert "Traceback" not in log and "Spider error processing" not in log, log[-3000:]
    assert fired >= 1
    assert summary["finish_reason"] == reason, (summary.get("finish_reason"), summary.get("signal"))
    got = summary["items"]
    if items is not None:
        assert got == items
    else:
        # pages before the fault were parsed (10 posts per page) and none of them is lost
        assert got >= 10
    assert stored(workdir, sources=["weibo"]) == got  # everything parsed reached the store
    if stat:
        assert any(k.startswith(stat) for k in summary["stats"]), sorted(summary["stats"])
    if reason == "blocked":
        assert summary["signal"] and f"blocked/{summary['signal']}" in summary["stats"]
        assert "outcome=blocked" in log  # operators see it in the CLI output
    if name == "truncated_json":
        assert any("malformed" in k or "invalid" in k for k in summary["stats"]), sorted(summary["stats"])


def test_charsetless_gbk_pages_decode_from_their_meta_tag(tmp_path):
    with ReplaySite() as site:
        site.faults.add(Fault(r"/bbs\.chihuo\.example/", "charset", times=None))
        rc, summary, log = run_crawl("discuz", {"fid": DISCUZ_FID, "site": "bbs.chihuo.example"},
                                     site.base_urls()["discuz"], tmp_path)
        floors = [f for t in site.app.world.discuz[DISCUZ_FID] for f in t.floors]
    assert rc == 0 and summary["finish_reason"] == "finished", log[-2000:]
    assert summary["items"] == len(floors)
    assert stored(tmp_path, q="沸腾里") >= 1
