"""Logging set-up: structured JSON lines (OPMON_LOG_FORMAT=json) or readable text."""

from __future__ import annotations

import logging
import sys

from core.settings import get_settings

_SECRET_KEYS = ("key", "secret", "token", "password", "cookie", "authorization")


class RedactSecrets(logging.Filter):
    """Drop values of secret-looking extra fields so that secrets never reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in list(vars(record)):
            if any(k in name.lower() for k in _SECRET_KEYS) and name not in ("msg", "args"):
                setattr(record, name, "***")
        return True


def setup_logging(fmt: str | None = None, level: str | None = None) -> None:
    settings = get_settings()
    fmt = fmt or settings.log_format
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"levelname": "level", "asctime": "ts"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or settings.log_level).upper())
