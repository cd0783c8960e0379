"""Server-sent events (``text/event-stream``), parsed line by line as the HTML standard's
event stream interpretation says: ``data:`` lines are joined by newlines, ``event:`` names
the event (``message`` by default), ``id:`` and ``retry:`` are kept, a line starting with
``:`` is a comment (a keep-alive), and an empty line dispatches the event. A line without
a colon is a field with an empty value; one space after the colon is dropped.

::

    parser = EventParser()
    for line in response.iter_lines():     # httpx splits on CR, LF and CRLF
        event = parser.feed(line)
        if event is not None:
            ...

The status stream sends one event per change of a request's status, its data the status
body (``{"batchId": ..., "status": "In Progress"}``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EVENT_STREAM", "EventParser", "ServerSentEvent"]

EVENT_STREAM = "text/event-stream"


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class EventParser:
    """Turns the lines of an event stream into events (one parser per stream)."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        """Take one line (without its line break); the event it completes, if any."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        """The event of the lines read since the last one; none when it has no data."""
        data, event = self._data, self._event or "message"
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent(data="\n".join(data), event=event, id=self._id, retry=self._retry)
