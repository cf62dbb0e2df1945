"""The dashboard in a real headless Chromium against a real uvicorn: the key is entered in the page,
and the charts show the API's numbers."""

from __future__ import annotations

import os
import shutil
from collections import Counter

import httpx
import pytest
from api_testkit import LiveServer, make_corpus

from api.main import create_app
from core.brands import Brand, BrandRepo
from core.settings import Settings

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]

pytestmark = [
    pytest.mark.playwright,
    pytest.mark.skipif(not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM),
                       reason="Chromium not installed (apt-get install -y chromium)"),
]


@pytest.fixture
def live(tmp_path):
    s = Settings(data_dir=tmp_path / "data", nlp_enabled=False, brands_file=tmp_path / "none.yaml")
    app = create_app(s, webhook_worker=False)
    server = LiveServer(app)
    corpus = make_corpus(240)
    app.state.store.upsert(corpus)
    for b in ("小米", "华为", "海底捞"):
        BrandRepo(app.state.state_db).upsert(Brand(name=b))
    server.token = app.state.keys.create("dashboard", ["read"])[1]
    server.corpus = corpus
    yield server
    server.stop()


def test_dashboard_renders_api_data(live, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            outside: list[str] = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(live.url) else None)
            page.goto(f"{live.url}/dashboard")
            # no key yet: the page asks for one and has shown no data
            page.wait_for_selector("#apikey", state="visible")
            assert page.evaluate("window.opmon.ready") is False
            page.fill("#apikey", live.token)
            page.click("#keyform button")
            _wait_ready(page)
            assert page.evaluate("localStorage.getItem('opmon.apiKey')") == live.token

            state = page.evaluate("""() => ({
                query: window.opmon.query.trends,
                trend: window.opmon.charts.trend.getOption().series.map(s => ({name: s.name, data: s.data})),
                xaxis: window.opmon.charts.trend.getOption().xAxis[0].data,
                sov: window.opmon.charts.sov.getOption().series[0].data,
                tp: window.opmon.charts.touchpoints.getOption().series.map(s => ({name: s.name, data: s.data})),
                negatives: document.querySelectorAll('#negatives tr').length - 1,
            })""")
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            if os.environ.get("OPMON_DASHBOARD_SCREENSHOT"):  # refresh docs/dashboard.png for the README
                page.screenshot(path=os.environ["OPMON_DASHBOARD_SCREENSHOT"], full_page=True)
        finally:
            browser.close()

    assert not errors, errors
    assert "default-src 'self'" in httpx.get(f"{live.url}/dashboard").headers["content-security-policy"]
    assert not outside, f"the page loaded something from elsewhere: {outside[:3]}"
    # The chart shows exactly the numbers the API gives for the query the page made ...
    q = state["query"]
    api = httpx.get(f"{live.url}/v1/trends", params=q, headers={"X-API-Key": live.token}).json()
    assert [s["brand"] for s in api["series"]] == q["brand"] and len(q["brand"]) == 3
    by_name = {s["name"]: s["data"] for s in state["trend"]}
    # day labels are the Shanghai dates of the bucket starts, whatever the browser's zone
    assert state["xaxis"] == [b["start"][5:10] for b in api["series"][0]["buckets"]]
    for s in api["series"]:
        for k, zh in (("positive", "正面"), ("neutral", "中性"), ("negative", "负面"), ("unscored", "未评分")):
            assert by_name[f"{s['brand']} · {zh}"] == [b[k] for b in s["buckets"]]
        assert by_name[f"{s['brand']} · 净情感 net"] == [b["net_sentiment"] for b in s["buckets"]]
    # ... and those numbers are the corpus's.
    counts = Counter(b for m in live.corpus for b in m.brands)
    assert {d["name"]: d["value"] for d in state["sov"]} == {b: counts[b] for b in ("小米", "华为", "海底捞")}
    negatives = sum(1 for m in live.corpus if m.sentiment and m.sentiment.label == "negative")
    assert state["negatives"] == min(10, negatives) > 0
    tp_total = sum(sum(x for x in s["data"]) for s in state["tp"])
    first = q["brand"][0]
    assert tp_total == sum(len(m.aspects) for m in live.corpus if first in m.brands)
    assert (tmp_path / "dashboard.png").stat().st_size > 20_000


def _wait_ready(page, timeout_s: float = 30) -> None:
    """Poll with page.evaluate: wait_for_function evals a string, which the page's CSP forbids."""
    import time

    deadline = time.monotonic() + timeout_s
    while not page.evaluate("() => window.opmon.ready"):
        err = page.evaluate("() => window.opmon.error")
        assert err is None, err
        assert time.monotonic() < deadline, "the dashboard did not finish loading"
        page.wait_for_timeout(100)
