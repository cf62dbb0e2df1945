"""The project's one exception hierarchy.

Third-party errors are wrapped once, at the boundary where they happen, with `raise ... from`.
Only `api/` turns these into HTTP responses.
"""


class OpmonError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(OpmonError):
    """A setting, config file or argument is wrong; the message names it."""


class InvalidInput(OpmonError):
    """Input data (a mention, a query, a cursor) is malformed; the message says why."""


class NotFound(OpmonError):
    """The thing asked for does not exist."""


class Conflict(OpmonError):
    """The request clashes with existing state (e.g. a duplicate name)."""


class StoreError(OpmonError):
    """The storage backend failed."""


class StoreUnavailable(StoreError):
    """The storage backend cannot be reached."""


class ModelError(OpmonError):
    """An NLP model could not be loaded or run."""


class CrawlBlocked(OpmonError):
    """A site is blocking the crawler (captcha, login wall, rate limit)."""

    def __init__(self, signal: str, detail: str = ""):
        super().__init__(f"blocked: {signal}" + (f" ({detail})" if detail else ""))
        self.signal = signal
        self.detail = detail


class DeliveryError(OpmonError):
    """A webhook delivery failed (to be retried from the outbox)."""
