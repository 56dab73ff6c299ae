"""Log formats of a Strom node: one line per event, as text for a terminal or as JSON.

Both formats write one line per log record to stderr; only a traceback in the text format continues on
indented lines. The JSON format (``strom serve --log-format json``) writes one object per line:

    {"ts": "2026-12-04T18:20:33.123Z", "level": "INFO", "logger": "strom.node", "msg": "...", ...}

``ts`` is the record's time, ISO-8601 in UTC with milliseconds; ``level`` is Python's level name
(DEBUG, INFO, WARNING, ERROR, CRITICAL); ``msg`` is the formatted message. Every field a call passes
with ``extra={...}`` (``topic``, ``partition``, ``group``, ``generation``, ``members``, ``broker``,
``epoch``, ``duration_ms`` ...) follows as a top-level key; a value JSON cannot hold is written as its
``str()``. A record with an exception carries its traceback as one string, ``exc``. Extra keys that
collide with the five fixed ones are written with a leading underscore (``_msg``) rather than lost.

Levels: ``--log-level`` or ``STROM_LOG_LEVEL`` take debug, info, warn (log4j's name) or warning,
error and critical; an unknown name in the environment falls back to info.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

FORMATS = ("text", "json")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "warning": logging.WARNING,
          "error": logging.ERROR, "critical": logging.CRITICAL}

# attributes every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
_FIXED = ("ts", "level", "logger", "msg", "exc")


def utc_timestamp(created: float) -> str:
    """``created`` (seconds since the epoch) as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    seconds = int(created)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{int((created - seconds) * 1000):03d}Z"


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a call passed with ``extra=``, in the order it gave them."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class TextFormatter(logging.Formatter):
    """``2026-12-04T18:20:33.123Z INFO    strom.node: message``; a traceback follows, indented."""

    def format(self, record: logging.LogRecord) -> str:
        line = (f"{utc_timestamp(record.created)} {record.levelname:<7} {record.name}: "
                f"{record.getMessage()}")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + "\n".join("    " + x for x in record.exc_text.splitlines())
        if record.stack_info:
            line += "\n" + "\n".join("    " + x for x in record.stack_info.splitlines())
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"ts": utc_timestamp(record.created), "level": record.levelname,
                                 "logger": record.name, "msg": record.getMessage()}
        for key, value in extra_fields(record).items():
            entry["_" + key if key in _FIXED else key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False, separators=(",", ":"))


def parse_level(name: str | None, default: int = logging.INFO) -> int:
    """The level for a name in ``LEVELS`` (any case); ``default`` for None or an unknown name."""
    return LEVELS.get((name or "").strip().lower(), default)


def configure(level: int = logging.INFO, fmt: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """Send every log record at ``level`` or above to ``stream`` (stderr) in format ``fmt``,
    replacing the root logger's handlers; returns the new handler."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r} (choose from {', '.join(FORMATS)})")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
