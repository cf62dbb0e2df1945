"""One typed settings object, read from the environment (prefix OPMON_) once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPMON_", env_file=None, extra="ignore")

    # Storage
    store: Literal["sqlite", "elasticsearch"] = Field(
        default="sqlite", description="mention store backend: embedded SQLite or Elasticsearch 8"
    )
    data_dir: Path = Field(default=Path("data"), description="where the embedded stores and models live")
    sqlite_path: Path | None = Field(default=None, description="mention DB file; default DATA_DIR/mentions.db")
    state_path: Path | None = Field(default=None, description="state DB file; default DATA_DIR/state.db")
    es_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPMON_ES_URL", "ES_URL"),
        description="Elasticsearch URL, e.g. http://localhost:9200",
    )
    es_api_key: SecretStr | None = None
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_index_prefix: str = "opmon"
    es_verify_certs: bool = True

    # NLP
    nlp_enabled: bool = True
    model: str = Field(default="bundled", description="'bundled', a local directory or a Hugging Face id")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    nlp_batch_size: int = Field(default=256, ge=1, le=8192)
    torch_threads: int | None = Field(default=None, ge=1)
    nlp_precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto", description="CPU forward precision: bf16 where the CPU has AMX, else fp32"
    )
    taxonomy: str = Field(default="ecommerce,restaurant,car", description="touchpoint taxonomies to apply")
    embedding_model: str | None = Field(
        default=None, description="local sentence-embedding model for topic clustering (optional)"
    )

    # Brands and crawling
    brands_file: Path = Path("brands.yaml")
    redis_url: str | None = None
    distributed: bool = Field(default=False, description="share the crawl queue through Redis (scrapy-redis)")
    proxies: str | None = Field(default=None, description="proxy URLs, comma- or newline-separated")
    proxy_file: Path | None = Field(default=None, description="a file with one proxy URL per line")
    page_lookahead: int = Field(default=1, ge=1, le=32, description="result pages requested ahead")
    chromium_path: str = Field(default="/usr/bin/chromium", description="browser for Playwright pages")
    dianping_font_reference: Path | None = Field(
        default=None, description="folder with reference.woff + reference.json for Dianping fonts"
    )
    scheduler_metrics_port: int = Field(default=9108, description="Prometheus /metrics of the scheduler")

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    admin_key: SecretStr | None = Field(default=None, description="bootstrap admin API key (hashed on first use)")
    rate_limit_per_minute: int = Field(default=600, ge=1)
    rate_limit_backend: Literal["auto", "memory", "redis"] = Field(
        default="auto", description="where rate-limit buckets live; auto: Redis when OPMON_REDIS_URL is set"
    )
    timezone: str = "Asia/Shanghai"

    # Webhooks
    webhook_max_attempts: int = Field(default=12, ge=1)
    webhook_backoff_base_s: float = Field(default=2.0, gt=0)
    webhook_backoff_max_s: float = Field(default=600.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    secret_key: SecretStr | None = Field(
        default=None, description="urlsafe-base64 32-byte key sealing webhook secrets at rest; default: a key file"
    )
    secret_key_file: Path | None = Field(default=None, description="key file used without OPMON_SECRET_KEY; "
                                         "default DATA_DIR/secret.key (created 0600)")

    # Logging
    log_format: Literal["json", "text"] = "text"
    log_level: str = "INFO"

    @property
    def mentions_db(self) -> Path:
        return self.sqlite_path or self.data_dir / "mentions.db"

    @property
    def state_db(self) -> Path:
        return self.state_path or self.data_dir / "state.db"

    @property
    def secret_key_path(self) -> Path:
        return self.secret_key_file or self.data_dir / "secret.key"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
