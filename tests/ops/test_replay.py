"""The replay site speaks every source's real format: the real spiders, run against it, read back
exactly the invented world (ids, texts, ratings, times), including GBK pages and the Dianping sprite."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from ops_testkit import free_port

from ops.replay import render
from ops.replay.content import (
    DIANPING_SHOP,
    DISCUZ_FID,
    HOTPOT_KEYWORD,
    JD_PRODUCT,
    PHONE_KEYWORD,
    TIEBA_FORUM,
    build_world,
)
from ops.replay.server import REPLAY_CRAWL_SETTINGS, ReplayApp, ReplaySite

ROOT = Path(__file__).resolve().parents[2]


def test_world_has_a_recent_surge_against_a_quiet_day():
    world = build_world()
    items = world.all_items()
    surge = [i for i in items if i.surge]
    quiet = [i for i in items if not i.surge]
    assert len(surge) > len(quiet) / 2
    assert all((world.now - i.published).total_seconds() <= 3 * 3600 for i in surge)
    assert all(i.sentiment == "negative" for i in surge)
    assert sum(i.sentiment == "negative" for i in quiet) < len(quiet) / 4
    assert all(i.published <= world.now for i in items)
    assert build_world(world.now).all_items()[0].text == items[0].text  # same seed, same world


def test_formats_and_encodings():
    app = ReplayApp(build_world())
    jd = app.handle(f"/club.jd.com/comment/productPageComments.action?callback=fetchJSON_comment98"
                    f"&productId={JD_PRODUCT}&score=0&sortType=5&page=0&pageSize=10")
    assert "GBK" in jd.ctype
    body = jd.body.decode("gbk")
    assert body.startswith("fetchJSON_comment98({") and body.endswith("});")
    data = json.loads(body[len("fetchJSON_comment98("):-2])
    assert data["maxPage"] == 3 and len(data["comments"]) == 10
    dz = app.handle(f"/bbs.chihuo.example/forum.php?mod=forumdisplay&fid={DISCUZ_FID}&page=1")
    assert "gbk" in dz.ctype and "charset=gbk" in dz.body.decode("gbk")
    with pytest.raises(UnicodeDecodeError):
        dz.body.decode("utf-8")
    tieba = app.handle(f"/tieba.baidu.com/f?kw={TIEBA_FORUM}&ie=utf-8&pn=0").body.decode()
    assert '<code class="pagelet_html"' in tieba and "<!--" in tieba and "j_thread_list" in tieba
    weibo = json.loads(app.handle(f"/m.weibo.cn/api/container/getIndex?containerid=100103type%3D1%26q%3D"
                                  f"{PHONE_KEYWORD}&page_type=searchall&page=1").body)
    assert {c["card_type"] for c in weibo["data"]["cards"]} == {42, 11, "9"}
    assert json.loads(app.handle(f"/m.weibo.cn/api/container/getIndex?containerid=100103type%3D1%26q%3D"
                                 f"{PHONE_KEYWORD}&page=99").body)["ok"] == 0


def test_dianping_sprite_is_decodable():
    """Every obfuscated character points, through its CSS rule, at itself in the SVG sprite."""

    sprite = render.DianpingSprite(["沸腾里的毛肚很新鲜，服务员也很热情", "锅底里吃出了虫子"])
    rows = {int(y): t for y, t in re.findall(r'y="(\d+)">([^<]+)</text>', sprite.svg())}
    rules = {c: (float(x), float(y)) for c, x, y in re.findall(r"\.(\w+)\{background:-([\d.]+)px -([\d.]+)px;}",
                                                                 sprite.css())}
    html = sprite.obfuscate("毛肚很新鲜，虫子")
    decoded = ""
    for part in re.findall(r'<svgmtsi class="(\w+)"></svgmtsi>|(.)', html):
        cls, plain = part
        if not cls:
            decoded += plain
            continue
        x, y = rules[cls]
        row = rows[min(r for r in rows if r >= y)]
        decoded += row[int(x // 14)]
    assert decoded == "毛肚很新鲜，虫子"


def _crawl(spider: str, args: dict, base: str, out: Path, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider, "-a", f"base_url={base}", "-O", f"{out}:jsonlines"]
    for k, v in args.items():
        cmd += ["-a", f"{k}={v}"]
    for k, v in {**REPLAY_CRAWL_SETTINGS, "LOG_FILE": str(out.with_suffix(".log"))}.items():
        cmd += ["-s", f"{k}={v}"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow
@pytest.mark.playwright
def test_real_spiders_read_the_replay_site(tmp_path):
    env = {**os.environ, "OPMON_NLP_ENABLED": "false", "OPMON_DATA_DIR": str(tmp_path / "data")}
    jobs = {
        "weibo": ("weibo", {"keyword": PHONE_KEYWORD}),
        "weibo_search": ("weibo_search", {"keyword": HOTPOT_KEYWORD}),
        "tieba": ("tieba", {"forum": TIEBA_FORUM}),
        "jd": ("jd", {"product_id": JD_PRODUCT}),
        "dianping": ("dianping", {"shop_id": DIANPING_SHOP}),
        "discuz": ("discuz", {"fid": DISCUZ_FID, "site": "bbs.chihuo.example"}),
    }
    with ReplaySite() as site:
        world = site.app.world
        bases = site.base_urls()
        procs = {}
        for name, (spider, args) in jobs.items():
            procs[name] = _crawl(spider, args, bases[name], tmp_path / f"{name}.jsonl", env)
        codes = {name: p.wait(timeout=240) for name, p in procs.items()}
    assert all(c == 0 for c in codes.values()), codes
    out = {name: {m["id"]: m for m in map(json.loads, (tmp_path / f"{name}.jsonl").read_text().splitlines())}
           for name in jobs}

    def published(m) -> datetime:
        return datetime.fromisoformat(m["published_at"])

    # m.weibo.cn: every post, full text of the long one, exact times
    posts = {f"weibo:{p.native_id}": p for p in world.weibo[PHONE_KEYWORD]}
    assert set(out["weibo"]) == set(posts)
    for mid, p in posts.items():
        assert out["weibo"][mid]["text"] == p.text, "weibo"
        assert published(out["weibo"][mid]) == p.published
    # s.weibo.com: same ids as the m.weibo.cn spider, relative times to the minute
    pot = {f"weibo:{p.native_id}": p for p in world.weibo[HOTPOT_KEYWORD]}
    assert set(out["weibo_search"]) == set(pot)
    for mid, p in pot.items():
        assert out["weibo_search"][mid]["text"] == p.text, "weibo_search"
        assert abs((published(out["weibo_search"][mid]) - p.published).total_seconds()) <= 120
    # Tieba: opening floors are posts with titles, the rest comments on them
    threads = world.tieba[TIEBA_FORUM]
    floors = {f"tieba:{f.native_id}": (t, i, f) for t in threads for i, f in enumerate(t.floors)}
    assert set(out["tieba"]) == set(floors)
    for mid, (t, i, f) in floors.items():
        m = out["tieba"][mid]
        # Tieba smileys are images without alt text: what they meant is not on the page
        assert m["text"] == re.sub(r"\[[^\]]{1,4}\]", "", f.text), "tieba"
        assert m["kind"] == ("post" if i == 0 else "comment")
        if i:
            assert m["parent_id"] == f"tieba:{t.floors[0].native_id}"
    # JD (GBK JSONP): ratings, and the placeholder is not customer text
    reviews = {f"jd:{r.native_id}": r for r in world.jd[JD_PRODUCT]}
    assert set(out["jd"]) == set(reviews)
    for mid, r in reviews.items():
        assert out["jd"][mid]["metrics"]["rating"] == r.rating
        assert out["jd"][mid]["text"] == ("" if r.text == "此用户未填写评价内容" else r.text)
    # Dianping (real Chromium, SVG sprite): decoded text equals what we wrote
    dp = {f"dianping:{r.native_id}": r for r in world.dianping[DIANPING_SHOP]}
    assert set(out["dianping"]) == set(dp)
    for mid, r in dp.items():
        assert out["dianping"][mid]["text"] == r.text, "dianping"
        assert out["dianping"][mid]["metrics"]["rating"] == r.rating
    # Discuz (GBK): every floor, ids pinned to the board's host
    dz = {f"discuz:bbs.chihuo.example:{f.native_id}": f for t in world.discuz[DISCUZ_FID] for f in t.floors}
    assert set(out["discuz"]) == set(dz)
    for mid, f in dz.items():
        assert out["discuz"][mid]["text"] == re.sub(r"\[[^\]]{1,4}\]", "", f.text), "discuz"  # smileys: no alt
        assert abs((published(out["discuz"][mid]) - f.published).total_seconds()) <= 60


def test_opmon_replay_command_serves_until_ctrl_c():
    import signal
    import time

    import httpx

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "replay", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "replay site on" in proc.stdout.readline()
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/m.weibo.cn/api/container/getIndex",
                              params={"containerid": f"100103type=1&q={PHONE_KEYWORD}", "page": 1}, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert r.json()["ok"] == 1
        assert httpx.get(f"http://127.0.0.1:{port}/__replay/stats").json()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
