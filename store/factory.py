"""`open_store(settings)`: the configured mention backend, opened and ready."""

from __future__ import annotations

from core.errors import ConfigError
from core.settings import Settings, get_settings
from store.base import Store


def make_store(settings: Settings | None = None) -> Store:
    """The configured backend, not yet opened (for callers that manage the lifecycle)."""
    settings = settings or get_settings()
    if settings.store == "elasticsearch":
        if not settings.es_url:
            raise ConfigError("OPMON_STORE=elasticsearch needs OPMON_ES_URL (or ES_URL), "
                              "e.g. http://localhost:9200")
        from store.elastic import ElasticStore

        return ElasticStore.from_settings(settings)
    from store.sqlite import SqliteStore

    return SqliteStore(settings.mentions_db)


def open_store(settings: Settings | None = None) -> Store:
    """The configured backend, opened: schema / mappings applied idempotently.

    OPMON_STORE=sqlite (default) uses the embedded file OPMON_SQLITE_PATH (default
    DATA_DIR/mentions.db); OPMON_STORE=elasticsearch uses OPMON_ES_URL. Setting ES_URL alone does
    not switch backends: the choice is always explicit.
    """
    store = make_store(settings)
    store.open()
    return store
