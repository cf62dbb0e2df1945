"""Store fixtures: `store` runs a test on every backend (Elasticsearch only when ES_URL is set)."""

from __future__ import annotations

import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a folder of scripts, not an installed package
    sys.path.insert(0, str(ROOT))

# A fixed "now" for generated data: a past date, so no mention is ever in the future.
END = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
ES_SKIP = "ES_URL not set: no Elasticsearch cluster to test against"


def _sqlite(tmp_path):
    from store.sqlite import SqliteStore

    return SqliteStore(tmp_path / "mentions.db")


def _elastic(tmp_path):
    url = os.environ.get("ES_URL")
    if not url:
        pytest.skip(ES_SKIP)
    from store.elastic import ElasticStore

    # A private index prefix per test; refresh on write so reads see writes at once, and no
    # export safety lag (one writer, refreshed) so the export tests need not sleep.
    return ElasticStore(url, prefix=f"opmon-test-{uuid.uuid4().hex[:10]}", refresh="wait_for",
                        export_lag_s=0.0)


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("elasticsearch", marks=pytest.mark.es)])
def store(request, tmp_path):
    st = _sqlite(tmp_path) if request.param == "sqlite" else _elastic(tmp_path)
    st.open()
    try:
        yield st
    finally:
        if request.param == "elasticsearch":
            st.destroy()
        st.close()


@pytest.fixture
def sqlite_store(tmp_path):
    st = _sqlite(tmp_path)
    st.open()
    yield st
    st.close()
