"""`opmon ingest` and `opmon stats`, run through the real click group."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import orjson
import pytest
from click.testing import CliRunner

from bench.mentiongen import generate
from core.cli import main
from store.base import Filters
from store.factory import open_store

END = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "in.jsonl"
    rows = [orjson.dumps(d) for d in generate(300, seed=4, end=END, as_dict=True)]
    bad = [
        b'{"id": "weibo:x", "source": "weibo", "kind": "post", "text": "", "published_at": "2026-11-01T00:00:00+08:00"}',
        b"not json at all",
        b'{"id": "weibo:y", "source": "weibo", "kind": "tweet", "text": "hi", "published_at": "2026-11-01T00:00:00+08:00"}',
    ]
    path.write_bytes(b"\n".join(rows[:100] + [bad[0]] + rows[100:200] + [b"", bad[1]] + rows[200:] + [bad[2]]) + b"\n")
    return path


def test_ingest_reports_rejections_by_line_and_is_idempotent(jsonl, settings):
    runner = CliRunner()
    first = runner.invoke(main, ["ingest", str(jsonl)])
    assert first.exit_code == 0, first.output
    assert "accepted 300 (300 new, 0 updated), rejected 3" in first.stdout
    lines = first.stderr.splitlines()
    assert lines[0].startswith(f"{jsonl}:101: rejected: ") and "text is empty" in lines[0]
    assert lines[1].startswith(f"{jsonl}:203: rejected: not valid JSON")
    assert lines[2].startswith(f"{jsonl}:304: rejected: kind: ")
    again = runner.invoke(main, ["ingest", str(jsonl), "--json"])
    summary = json.loads(again.stdout)
    assert summary == {"file": str(jsonl), "accepted": 300, "inserted": 0, "updated": 300, "rejected": 3}
    st = open_store(settings)
    assert st.count(Filters()) == 300
    st.close()
    strict = runner.invoke(main, ["ingest", str(jsonl), "--strict", "--max-errors", "1"])
    assert strict.exit_code == 1 and "and 2 more rejected lines" in strict.stderr


def test_ingest_into_an_explicit_store_path_and_missing_file(tmp_path, jsonl):
    runner = CliRunner()
    target = tmp_path / "other.db"
    res = runner.invoke(main, ["ingest", str(jsonl), "--store", str(target)])
    assert res.exit_code == 0 and target.exists()
    missing = runner.invoke(main, ["ingest", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code != 0 and "cannot read" in missing.output


def test_stats_prints_counts_per_source_and_sentiment(jsonl):
    runner = CliRunner()
    empty = runner.invoke(main, ["stats"])
    assert empty.exit_code == 0 and "empty" in empty.stdout
    runner.invoke(main, ["ingest", str(jsonl)])
    data = json.loads(runner.invoke(main, ["stats", "--json"]).stdout)
    ms = list(generate(300, seed=4, end=END))
    assert data["total"] == 300
    for src in {m.source for m in ms}:
        assert data["by_source"][src] == sum(m.source == src for m in ms)
    assert data["by_sentiment"]["negative"] == sum(bool(m.sentiment) and m.sentiment.label == "negative" for m in ms)
    assert data["by_sentiment"]["unscored"] == sum(m.sentiment is None for m in ms)
    table = runner.invoke(main, ["stats"]).stdout
    assert "300 mentions" in table and "weibo" in table and "negative" in table
