"""Failure injection for tests of the local platform service (``XDMC_PLATFORM_FAULTS``).

``POST /_local/faults`` adds one fault; ``GET`` lists those pending, ``DELETE`` drops them::

    {"method": "PUT", "path": "/files/", "status": 503, "times": 2}   # two 503s on uploads
    {"path": "/batches$", "status": 429, "retryAfter": 2}              # 429, Retry-After: 2
    {"method": "GET", "path": "/catalog/", "delaySeconds": 3}          # slow, then answered
    {"kind": "tamper", "field": "/person/gender", "value": "robot", "every": 1}
    {"kind": "workorder", "value": "dataset is locked"}              # the next work order fails

An HTTP fault matches a request whose method is ``method`` (``*`` by default) and whose
path contains a match of the regular expression ``path``; it waits ``delaySeconds``, then
answers ``status`` (with ``Retry-After`` when given), or lets the request through when no
status is given, for the next ``times`` matching requests. A ``tamper`` fault sets
``field`` to ``value`` in every ``every``-th record of the next ``times`` batches
processed, before validation: a way to make valid uploads fail validation. A ``workorder``
fault fails the next ``times`` record delete work orders processed, ``value`` as the reason.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from xdm_connector.api.responses import gateway_error

ADMIN_PATH = "/_local/faults"


class Fault(BaseModel):
    """One injected failure (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: str = Field(default="http", pattern="^(http|tamper|workorder)$")
    method: str = "*"
    path: str = ""
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: int | None = Field(alias="retryAfter", default=None, ge=0)
    delay_seconds: float = Field(alias="delaySeconds", default=0.0, ge=0, le=600)
    times: int = Field(default=1, ge=1)
    field: str = ""
    value: Any = None
    every: int = Field(default=1, ge=1)


@dataclass
class _Pending:
    fault: Fault
    left: int


class Faults:
    """The pending faults of one service process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []

    def add(self, fault: Fault) -> None:
        """Arm ``fault`` for its next ``times`` matches."""
        re.compile(fault.path)
        with self._lock:
            self._pending.append(_Pending(fault, fault.times))

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._pending.clear()

    def pending(self) -> list[dict[str, Any]]:
        """The pending faults, each with the matches it has left."""
        with self._lock:
            return [
                {**p.fault.model_dump(by_alias=True, exclude_defaults=True), "left": p.left}
                for p in self._pending
            ]

    def take(self, kind: str, method: str = "", path: str = "") -> Fault | None:
        """The first pending fault of ``kind`` matching a request, counted as used."""
        with self._lock:
            for pending in self._pending:
                fault = pending.fault
                if fault.kind != kind:
                    continue
                if kind == "http" and not (
                    fault.method in ("*", method.upper()) and re.search(fault.path, path)
                ):
                    continue
                pending.left -= 1
                if pending.left <= 0:
                    self._pending.remove(pending)
                return fault
        return None


class FaultMiddleware:
    """Answers (or delays) the requests that a pending HTTP fault matches."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PATH):
            await self.app(scope, receive, send)
            return
        fault = self.faults.take("http", scope["method"], scope["path"])
        if fault is not None and fault.delay_seconds:
            await anyio.sleep(fault.delay_seconds)
        if fault is None or fault.status is None:
            await self.app(scope, receive, send)
            return
        response = gateway_error(fault.status, f"LOCAL-{fault.status}", "injected failure")
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(fault.retry_after)
        await response(scope, receive, send)


def tamper(record: dict[str, Any], field: str, value: Any) -> None:
    """Set the field at an XED slash path (``/person/gender``) in ``record``."""
    steps = [step for step in field.split("/") if step]
    if not steps:
        return
    node = record
    for step in steps[:-1]:
        child = node.get(step)
        if not isinstance(child, dict):
            child = node[step] = {}
        node = child
    node[steps[-1]] = value
