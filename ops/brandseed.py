"""Seeding monitored brands from brands.yaml into the state DB.

brands.yaml is the seed, `/v1/brands` edits the live list. A brand whose yaml entry changed since the
last seed is updated from the file (the operator edited it); a brand edited through the API keeps its
edits while its yaml entry stays the same.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path

from core.brands import Brand, BrandRepo, load_brands_yaml
from store.sqlite_db import StateDB

log = logging.getLogger(__name__)

_DDL = """
CREATE TABLE IF NOT EXISTS ops_brand_seed (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    seeded_at TEXT NOT NULL
)
"""


def _digest(b: Brand) -> str:
    return hashlib.sha256(b.model_dump_json().encode()).hexdigest()


def seed_brands(state: StateDB, path: Path) -> dict[str, str]:
    """Apply brands.yaml; returns {brand: 'created' | 'updated' | 'unchanged' | 'kept-api-edit'}."""
    brands = load_brands_yaml(path)
    repo = BrandRepo(state)
    state.ensure_schema("ops_brand_seed", _DDL)
    seeded = {r["name"]: r["digest"] for r in state.read("SELECT name, digest FROM ops_brand_seed")}
    existing = {b.name: b for b in repo.list()}
    outcome: dict[str, str] = {}
    now = datetime.now(UTC).isoformat()
    for b in brands:
        d = _digest(b)
        if b.name not in existing:
            repo.upsert(b)
            outcome[b.name] = "created"
        elif seeded.get(b.name) != d:
            repo.upsert(b)
            outcome[b.name] = "updated"
        elif _digest(existing[b.name]) != d:
            outcome[b.name] = "kept-api-edit"
        else:
            outcome[b.name] = "unchanged"
        with state.write() as c:
            c.execute("INSERT INTO ops_brand_seed(name, digest, seeded_at) VALUES (?, ?, ?) "
                      "ON CONFLICT(name) DO UPDATE SET digest = excluded.digest, seeded_at = excluded.seeded_at",
                      (b.name, d, now))
    log.info("brands from %s: %s", path, ", ".join(f"{k} {v}" for k, v in outcome.items()) or "none")
    return outcome
