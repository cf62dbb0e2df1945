"""Monitored brands: what to look for, where, and how sensitive alerts should be.

Brands live in the state DB (managed through `/v1/brands`), seeded from `brands.yaml`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from core.errors import ConfigError, Conflict, NotFound
from store.sqlite_db import StateDB

NAME_PATTERN = re.compile(r"^[\w\-. ]{1,64}$")


class Sensitivity(StrEnum):
    fewer = "fewer"
    balanced = "balanced"
    more = "more"


class Brand(BaseModel):
    name: str = Field(description="unique brand name, e.g. 小米")
    keywords: list[str] = Field(default_factory=list, description="search terms that find mentions")
    aliases: list[str] = Field(default_factory=list, description="other names that also match, e.g. Xiaomi")
    exclusions: list[str] = Field(default_factory=list, description="a mention containing any is not this brand")
    sources: list[str] = Field(default_factory=lambda: ["weibo"], description="sources to crawl")
    targets: dict[str, list[str]] = Field(
        default_factory=dict,
        description="per-source crawl targets that are not keywords: jd product ids, dianping shop ids, "
        "tieba forum names, discuz boards as 'BASE_URL|FID'",
    )
    sensitivity: Sensitivity = Sensitivity.balanced
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if not NAME_PATTERN.match(v):
            raise ValueError("name must be 1-64 letters, digits, spaces, '-', '_' or '.'")
        return v

    def match_terms(self) -> list[str]:
        """Terms whose presence in a text means this brand (name, keywords, aliases)."""
        seen: dict[str, None] = {}
        for t in [self.name, *self.keywords, *self.aliases]:
            if t.strip():
                seen.setdefault(t.strip().lower(), None)
        return list(seen)


_DDL = """
CREATE TABLE IF NOT EXISTS brands (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""


class BrandRepo:
    def __init__(self, db: StateDB):
        self.db = db
        db.ensure_schema("brands", _DDL)

    def list(self, enabled_only: bool = False) -> list[Brand]:
        rows = self.db.read("SELECT body FROM brands ORDER BY name")
        brands = [Brand.model_validate_json(r["body"]) for r in rows]
        return [b for b in brands if b.enabled] if enabled_only else brands

    def get(self, name: str) -> Brand:
        rows = self.db.read("SELECT body FROM brands WHERE name = ?", (name,))
        if not rows:
            raise NotFound(f"brand {name!r} does not exist")
        return Brand.model_validate_json(rows[0]["body"])

    def create(self, brand: Brand) -> Brand:
        with self.db.write() as c:
            if c.execute("SELECT 1 FROM brands WHERE name = ?", (brand.name,)).fetchone():
                raise Conflict(f"brand {brand.name!r} already exists")
            self._put(c, brand)
        return brand

    def upsert(self, brand: Brand) -> Brand:
        with self.db.write() as c:
            self._put(c, brand)
        return brand

    def replace(self, name: str, brand: Brand) -> Brand:
        with self.db.write() as c:
            if not c.execute("SELECT 1 FROM brands WHERE name = ?", (name,)).fetchone():
                raise NotFound(f"brand {name!r} does not exist")
            if brand.name != name:
                if c.execute("SELECT 1 FROM brands WHERE name = ?", (brand.name,)).fetchone():
                    raise Conflict(f"brand {brand.name!r} already exists")
                c.execute("DELETE FROM brands WHERE name = ?", (name,))
            self._put(c, brand)
        return brand

    def delete(self, name: str) -> None:
        with self.db.write() as c:
            if c.execute("DELETE FROM brands WHERE name = ?", (name,)).rowcount == 0:
                raise NotFound(f"brand {name!r} does not exist")

    @staticmethod
    def _put(c, brand: Brand) -> None:
        c.execute(
            "INSERT INTO brands(name, body, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            (brand.name, brand.model_dump_json(), datetime.now(UTC).isoformat()),
        )


def load_brands_yaml(path: Path) -> list[Brand]:
    """Read `brands.yaml` (a top-level `brands:` list); a bad entry is a ConfigError naming it."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read brands file {path}: {exc}") from exc
    items = data.get("brands", []) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{path}: expected a top-level 'brands:' list")
    brands = []
    for i, item in enumerate(items):
        try:
            brands.append(Brand.model_validate(item))
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{path}: brands[{i}]: {detail}") from exc
    return brands


class BrandMatcher:
    """Which of a list of brands a mention names: a brand matches when one of its terms (name,
    keywords, aliases) occurs in the lower-cased title + text and none of its exclusions does
    ("小米粥" is not 小米). The one rule used by the crawl (BrandPipeline) and by
    `opmon brands rematch`; the lower-cased terms are computed once, not per mention."""

    def __init__(self, brands: Iterable[Brand]):
        self.rules: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
            (b.name, tuple(b.match_terms()), tuple(x.lower() for x in b.exclusions if x))
            for b in brands]
        self.names: list[str] = [r[0] for r in self.rules]

    def __bool__(self) -> bool:
        return bool(self.rules)

    def match(self, title: str | None, text: str) -> list[str]:
        """The names of the brands the mention names, in the order the brands were given."""
        low = f"{title or ''}\n{text}".lower()
        return [name for name, terms, exclusions in self.rules
                if any(t in low for t in terms) and not any(x in low for x in exclusions)]


def load_monitored_brands(settings=None) -> list[Brand]:
    """Enabled brands from the state DB, plus brands.yaml entries not in the DB (the DB wins:
    brands.yaml only seeds it). What the crawl tags mentions with."""
    from core.settings import get_settings

    settings = settings or get_settings()
    by_name: dict[str, Brand] = {}
    path = settings.brands_file
    if path and path.exists():
        for b in load_brands_yaml(path):
            by_name[b.name] = b
    db = StateDB(settings.state_db)
    try:
        for b in BrandRepo(db).list():
            by_name[b.name] = b
    finally:
        db.close()
    return [b for b in by_name.values() if b.enabled]


def brands_json(brands: list[Brand]) -> str:
    return json.dumps([b.model_dump(mode="json") for b in brands], ensure_ascii=False)
