"""A writer killed with SIGKILL mid-ingest leaves a consistent store; re-running completes it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from bench.mentiongen import generate
from store.base import Filters
from store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
N = 100_000
BATCH = 2000


def _count(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM mentions").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0  # not created yet


def _ingest(path: Path, db: Path) -> subprocess.Popen:
    env = {**os.environ, "OPMON_SQLITE_PATH": str(db), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "core.cli", "ingest", str(path), "--batch", str(BATCH)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigkill_mid_ingest_then_rerun(tmp_path):
    src = tmp_path / "big.jsonl"
    with open(src, "wb") as f:
        for d in generate(N, seed=21, end=datetime(2026, 11, 20, tzinfo=UTC), as_dict=True):
            f.write(orjson.dumps(d) + b"\n")
    db = tmp_path / "mentions.db"

    proc = _ingest(src, db)
    deadline = time.monotonic() + 120
    while _count(db) < 3 * BATCH and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    st = SqliteStore(db)
    st.open()
    n = st.count(Filters())
    assert 0 < n < N
    assert n % BATCH == 0, "a batch was partly committed"
    dup = st._read("SELECT count(*) - count(DISTINCT id) FROM mentions")[0][0]
    assert dup == 0
    assert st.rollup_mismatches() == []
    assert st.stats()["total"] == n
    # Every committed mention is searchable: no row without its full-text entry.
    assert st.count(Filters(q="的")) + st.count(Filters(q="")) >= n

    again = _ingest(src, db)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert f"accepted {N} ({N - n} new, {n} updated), rejected 0" in out
    assert st.count(Filters()) == N
    assert st.rollup_mismatches() == []
    last = orjson.loads(src.read_bytes().rsplit(b"\n", 2)[-2])
    assert st.get(last["id"]).text == last["text"]
    st.close()
