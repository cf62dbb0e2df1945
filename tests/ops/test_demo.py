"""`opmon demo` end to end, as a new user runs it: a real subprocess, the real spiders against the
replay site, the real API on a loopback port, and a spike alert delivered to the demo receiver."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from ops_testkit import free_port

pytestmark = [pytest.mark.slow, pytest.mark.playwright]  # the dianping crawl drives Chromium
ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    data = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "demo", "--data-dir", str(data), "--port", str(port),
                             "--exit-after", "120"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out.append(line)
            if "Serving for" in line:
                break
        text = "".join(out)
        assert "Serving for" in text, text[-3000:]
        key = re.search(r"Demo read key\s+(opm_\S+)", text).group(1)
        api = f"http://127.0.0.1:{port}"
        assert f"{api}/dashboard" in text

        # every source was crawled into the store, through the API a user queries
        with httpx.Client(base_url=api, headers={"X-API-Key": key}, timeout=30) as c:
            for source in ("weibo", "tieba", "jd", "dianping", "discuz"):
                r = c.get("/v1/mentions", params={"source": source, "limit": 5})
                assert r.status_code == 200 and r.json()["items"], (source, r.text[:300])
            r = c.get("/v1/mentions", params={"q": "鼓包", "brand": "澜鲸", "limit": 50})
            assert r.status_code == 200 and len(r.json()["items"]) >= 5
            alerts = c.get("/v1/alerts").json()["items"]
            assert any(a["kind"].endswith("surge") for a in alerts), alerts
            assert c.get("/dashboard").status_code == 200
            assert c.get("/v1/mentions").status_code == 200
        assert httpx.get(f"{api}/v1/mentions").status_code == 401  # the demo still needs a key

        # the spike alert reached the receiver, signed (the receiver rejects bad signatures)
        received = [json.loads(line) for line in (data / "alerts_received.jsonl").read_text().splitlines()]
        opened = [e for e in received if e["event_type"] == "alert.opened"]
        assert opened and opened[0]["event"]["data"]["brand"] in ("澜鲸", "沸腾里")
        assert len({e["idempotency_key"] for e in received}) == len(received)

        # Ctrl-C stops it cleanly
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, rest[-2000:]
        assert "stopping the demo" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # nothing left listening on the API port
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
