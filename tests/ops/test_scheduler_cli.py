"""`opmon scheduler` as an operator runs it: a long-running process with JSON logs and /metrics, that
stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from ops_testkit import ROOT, free_port

from ops.replay.content import PHONE_KEYWORD, TIEBA_FORUM
from ops.replay.server import REPLAY_CRAWL_SETTINGS, ReplaySite

pytestmark = pytest.mark.slow


def test_scheduler_process_metrics_json_logs_and_sigterm(tmp_path):
    brands = tmp_path / "brands.yaml"
    brands.write_text(f"brands:\n  - name: 澜鲸\n    keywords: [{PHONE_KEYWORD}]\n    sources: [weibo, tieba]\n"
                      f"    targets: {{tieba: ['{TIEBA_FORUM}']}}\n", encoding="utf-8")
    port = free_port()
    env = {**os.environ, "OPMON_DATA_DIR": str(tmp_path / "data"), "OPMON_NLP_ENABLED": "false",
           "OPMON_LOG_FORMAT": "json"}
    with ReplaySite() as site:
        site.app.blocked.add("tieba")
        cmd = [sys.executable, "-m", "core.cli", "scheduler", "--brands", str(brands), "--metrics-port", str(port)]
        for spider, url in site.base_urls().items():
            cmd += ["--base-url", f"{spider}={url}"]
        for k, v in REPLAY_CRAWL_SETTINGS.items():
            cmd += ["--crawl-setting", f"{k}={v}"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            metrics = ""
            while time.monotonic() < deadline:
                try:
                    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                except httpx.TransportError:
                    metrics = ""
                if ('opmon_crawls_blocked_total{signal="tieba_security_check",spider="tieba"} 1.0' in metrics
                        and 'opmon_crawls_total{outcome="finished",spider="weibo"} 1.0' in metrics):
                    break
                assert proc.poll() is None, proc.stderr.read()[-3000:]
                time.sleep(0.5)
            assert 'opmon_crawls_blocked_total{signal="tieba_security_check",spider="tieba"} 1.0' in metrics
            assert f'opmon_items_total{{spider="weibo"}} {float(len(site.app.world.weibo[PHONE_KEYWORD]))}' in metrics
            assert "opmon_scheduler_jobs_backed_off 1.0" in metrics
            assert f'opmon_store_writes_total{{backend="crawl",op="inserted"}} {float(len(site.app.world.weibo[PHONE_KEYWORD]))}' \
                in metrics
            assert 'opmon_scheduler_crawl_seconds_count{spider="weibo"} 1.0' in metrics
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert records and len(records) == len([ln for ln in err.splitlines() if ln.strip()]), err[-2000:]
    blocked = [r for r in records if r["level"] == "ERROR" and "BLOCKED" in r["message"]]
    assert blocked and blocked[0]["signal"] == "tieba_security_check" and blocked[0]["spider"] == "tieba"
    assert blocked[0]["consecutive_blocked"] == 1


def test_scheduler_once_reports_each_crawl_and_fails_on_a_block(tmp_path):
    brands = tmp_path / "brands.yaml"
    brands.write_text(f"brands:\n  - name: 澜鲸\n    keywords: [{PHONE_KEYWORD}]\n    sources: [weibo, tieba]\n"
                      f"    targets: {{tieba: ['{TIEBA_FORUM}']}}\n", encoding="utf-8")
    env = {**os.environ, "OPMON_DATA_DIR": str(tmp_path / "data"), "OPMON_NLP_ENABLED": "false"}
    with ReplaySite() as site:
        site.app.blocked.add("tieba")
        cmd = [sys.executable, "-m", "core.cli", "scheduler", "--once", "--metrics-port", "0", "--no-alerts",
               "--brands", str(brands)]
        for spider, url in site.base_urls().items():
            cmd += ["--base-url", f"{spider}={url}"]
        for k, v in REPLAY_CRAWL_SETTINGS.items():
            cmd += ["--crawl-setting", f"{k}={v}"]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    posts = len(site.app.world.weibo[PHONE_KEYWORD])
    assert any(ln.startswith("finished") and f"weibo:keyword={PHONE_KEYWORD}" in ln and f"items={posts}" in ln
               for ln in lines), lines
    assert any(ln.startswith("blocked") and "signal=tieba_security_check" in ln for ln in lines), lines
    bad = subprocess.run([sys.executable, "-m", "core.cli", "scheduler", "--once", "--crawl-setting", "oops"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr
