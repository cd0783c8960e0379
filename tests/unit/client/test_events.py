"""The event stream's parser, line by line as the HTML standard says."""

from __future__ import annotations

from xdm_connector.client.events import EventParser, ServerSentEvent


def parse(*lines: str) -> list[ServerSentEvent]:
    parser = EventParser()
    return [event for line in lines if (event := parser.feed(line)) is not None]


def test_data_lines_are_joined_and_an_empty_line_dispatches() -> None:
    assert parse("event: status", "id: 3", 'data: {"a":', "data: 1}", "") == [
        ServerSentEvent(data='{"a":\n1}', event="status", id="3")
    ]


def test_comments_and_events_without_data_dispatch_nothing() -> None:
    assert parse(": keep-alive", "", "event: status", "", ":", "") == []


def test_the_default_type_one_space_and_fields_without_a_colon() -> None:
    assert parse("data:x", "data:  y", "data", "") == [ServerSentEvent(data="x\n y\n")]


def test_retry_needs_digits_and_the_id_lasts_across_events() -> None:
    events = parse("id: 9", "retry: 1500", "data: a", "", "retry: soon", "data: b", "")
    assert events == [
        ServerSentEvent(data="a", id="9", retry=1500),
        ServerSentEvent(data="b", id="9", retry=1500),
    ]


def test_unknown_fields_are_ignored_and_the_type_resets_after_each_event() -> None:
    assert parse("event: status", "colour: red", "data: a", "", "data: b", "") == [
        ServerSentEvent(data="a", event="status"),
        ServerSentEvent(data="b"),
    ]
