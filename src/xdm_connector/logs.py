"""The product's logs: one JSON object per line, carrying the ids of what they are about.

::

    with log_context(org="demo", mapping="XDM44", job=12):
        log.info("job started")
    # {"time": "...", "level": "INFO", "logger": "...", "message": "job started",
    #  "org": "demo", "mapping": "XDM44", "job": 12}

The ids live in a context variable, so every log line of a job carries them, from any
module, without passing them around; ``bind_log_context`` adds one (a batch id) later.
Every line is written without the secrets of the sources the process has opened, in any form
(``masking.mask_known_secrets``), tracebacks included.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from xdm_connector.masking import mask_known_secrets

_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("xdmc_log_context", default=None)
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Add ``ids`` to every log line written inside the block."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **ids})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind_log_context(**ids: Any) -> None:
    """Add ``ids`` to the current context (inside a ``log_context`` block)."""
    current = _CONTEXT.get()
    if current is not None:
        current.update(ids)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, context, extras."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update(_CONTEXT.get() or {})
        document.update(
            (key, value) for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES
        )
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        masked = {
            key: mask_known_secrets(value) if isinstance(value, str) else value
            for key, value in document.items()
        }
        return orjson.dumps(masked, default=lambda value: mask_known_secrets(str(value))).decode()


class TextFormatter(logging.Formatter):
    """A line for people: time, level, logger, message, then the context's ids."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = _CONTEXT.get()
        if context:
            line += " " + " ".join(f"{key}={value}" for key, value in context.items())
        return mask_known_secrets(line)


def configure_logging(level: str, log_format: str) -> None:
    """Send the process's logs to standard error, as JSON lines or as text."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
