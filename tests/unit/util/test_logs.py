"""The log formats: one line per event, valid JSON with the fixed and the ``extra=`` fields."""
from __future__ import annotations

import io
import json
import logging
import re
import uuid

import pytest

from strom.util import logs


@pytest.fixture
def capture():
    """A logger writing through a fresh handler; yields (logger, stream, set_format)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger(f"strom.test.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream, handler.setFormatter
    logger.removeHandler(handler)


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_has_the_fixed_fields_and_the_extra_ones(capture):
    logger, stream, set_format = capture
    set_format(logs.JsonFormatter())
    logger.info("stabilized group %s generation %d", "g1", 3,
                extra={"group": "g1", "generation": 3, "members": ["a", "b"], "path": logs})
    [entry] = json_lines(stream)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["ts"])
    assert entry["level"] == "INFO"
    assert entry["logger"] == logger.name
    assert entry["msg"] == "stabilized group g1 generation 3"
    assert entry["group"] == "g1" and entry["generation"] == 3 and entry["members"] == ["a", "b"]
    assert entry["path"].startswith("<module 'strom.util.logs'")  # not JSON: its str()
    assert "exc" not in entry and "args" not in entry and "levelno" not in entry


def test_json_exception_is_one_field_on_one_line(capture):
    logger, stream, set_format = capture
    set_format(logs.JsonFormatter())
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        logger.exception("flush of %s-%d failed", "t", 0, extra={"topic": "t", "partition": 0})
    assert len(stream.getvalue().splitlines()) == 1
    [entry] = json_lines(stream)
    assert entry["level"] == "ERROR" and entry["topic"] == "t" and entry["partition"] == 0
    assert entry["exc"].startswith("Traceback") and "ValueError: bad\nvalue" in entry["exc"]


def test_json_extra_colliding_with_a_fixed_key_is_kept_with_an_underscore(capture):
    logger, stream, set_format = capture
    set_format(logs.JsonFormatter())
    logger.warning("hello", extra={"ts": 1, "level": "x"})
    [entry] = json_lines(stream)
    assert entry["msg"] == "hello" and entry["level"] == "WARNING"
    assert entry["_ts"] == 1 and entry["_level"] == "x"


def test_text_is_one_line_and_indents_a_traceback(capture):
    logger, stream, set_format = capture
    set_format(logs.TextFormatter())
    logger.info("broker %d is unfenced", 1, extra={"broker": 1})
    try:
        1 / 0
    except ZeroDivisionError:
        logger.exception("it failed")
    first, second, *trace = stream.getvalue().splitlines()
    assert re.fullmatch(r"\S+Z INFO    strom\.test\.\w+: broker 1 is unfenced", first)
    assert second.endswith(": it failed") and " ERROR " in second
    assert trace and all(line.startswith("    ") for line in trace)


def test_utc_timestamp():
    assert logs.utc_timestamp(0.0) == "1970-01-01T00:00:00.000Z"
    assert logs.utc_timestamp(1796408433.1239) == "2026-12-04T18:20:33.123Z"


@pytest.mark.parametrize(("name", "level"), [
    ("DEBUG", logging.DEBUG), ("info", logging.INFO), ("WARN", logging.WARNING), ("warning", logging.WARNING),
    ("Error", logging.ERROR), (None, logging.INFO), ("loud", logging.INFO),
])
def test_parse_level(name, level):
    assert logs.parse_level(name) == level


def test_configure_replaces_the_root_handlers_and_refuses_an_unknown_format():
    root = logging.getLogger()
    saved, saved_level = list(root.handlers), root.level
    try:
        stream = io.StringIO()
        logs.configure(logging.WARNING, "json", stream)
        assert len(root.handlers) == 1
        logging.getLogger("strom.x").info("hidden")
        logging.getLogger("strom.x").warning("shown")
        assert [e["msg"] for e in json_lines(stream)] == ["shown"]
        with pytest.raises(ValueError):
            logs.configure(logging.INFO, "xml")
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved:
            root.addHandler(h)
        root.setLevel(saved_level)
