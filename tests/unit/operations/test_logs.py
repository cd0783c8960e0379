"""JSON logs carrying the ids of what they are about."""

from __future__ import annotations

import logging

import orjson
import pytest

from xdm_connector.logs import JsonFormatter, TextFormatter, bind_log_context, log_context


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord({"name": "xdmc.test", "levelname": "INFO", "msg": message})
    made.__dict__.update(extra)
    return made


def test_json_lines_carry_the_context_and_extras() -> None:
    formatter = JsonFormatter()
    with log_context(org="demo", mapping="XDM44", job=12):
        bind_log_context(batch="b-1")
        line = formatter.format(record("job 12 started", rows=5))
    document = orjson.loads(line)
    assert document["message"] == "job 12 started"
    assert document["level"] == "INFO"
    assert (document["org"], document["mapping"], document["job"], document["batch"]) == (
        "demo",
        "XDM44",
        12,
        "b-1",
    )
    assert document["rows"] == 5
    outside = orjson.loads(formatter.format(record("idle")))
    assert "org" not in outside


def test_contexts_nest_and_unwind() -> None:
    formatter = TextFormatter("%(message)s")
    with log_context(org="demo"):
        with log_context(job=3):
            assert formatter.format(record("inner")) == "inner org=demo job=3"
        assert formatter.format(record("outer")) == "outer org=demo"
    assert formatter.format(record("none")) == "none"


def test_exceptions_are_kept() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = record("failed", exc_info=sys.exc_info())
    document = orjson.loads(JsonFormatter().format(failed))
    assert "ValueError: boom" in document["exception"]


@pytest.mark.parametrize("level", ["DEBUG", "WARNING"])
def test_levels_pass_through(level: str) -> None:
    made = record("x")
    made.levelname = level
    assert orjson.loads(JsonFormatter().format(made))["level"] == level
