"""The webhook dispatcher: sends the outbox's deliveries, signed, and retries them.

Every server process with an embedded worker, and every ``xdm-connector worker``, runs
one in a thread of its own. Each turn leases the due deliveries (``Webhooks.lease``: no
two dispatchers hold a delivery at once), sends each, then writes the attempt::

    pending ──► attempt ──► 2xx ───────────────────────────► delivered
                   │
                   └──► anything else (an error, 3xx, 4xx, 5xx, no answer in time)
                          ├── next attempt after backoff, while the retry period lasts
                          └── past it ─────────────────────► failed

An attempt sends the delivery's fixed ``webhook-id`` and body with the attempt's
``webhook-timestamp`` and a signature by the endpoint's current secret (Standard
Webhooks, ``security/webhook_secrets.py``). It resolves the URL's host, checks the address
and connects to that very address (``security/webhook_targets.py``), with the URL's host in
``Host`` and as the TLS server name; it never follows a redirect, and reads no proxy
from the environment.

Waits grow four times each attempt from ``XDMC_WEBHOOK_RETRY_BASE_SECONDS`` (5 s) up to
``XDMC_WEBHOOK_RETRY_MAX_SECONDS`` (3 h), jittered, for
``XDMC_WEBHOOK_RETRY_PERIOD_SECONDS`` (a day) after the event. A delivery's lease lasts
four time limits of an attempt and 5 s more, so that it outlasts any attempt: a
dispatcher that dies holding it leaves it to another once the lease expires. A delivery
sent by a dispatcher that died before writing the attempt is sent again, with the same
``webhook-id``: receivers drop a message id they have seen (as the specification asks).

For crash tests, ``XDMC_FAULT_PAUSE_AT`` also names two stages here (``faults.py``
waits there): ``webhook-leased`` (a delivery leased, nothing sent) and ``webhook-sent``
(sent, the attempt not written).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import httpx

from xdm_connector import __version__
from xdm_connector.errors import LeaseLost, XdmcError
from xdm_connector.faults import pause_at
from xdm_connector.retry import RetryPolicy
from xdm_connector.security.webhook_secrets import WebhookKey, sign
from xdm_connector.security.webhook_targets import TargetRefused, resolve_target
from xdm_connector.settings import FaultStage, Settings
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store
from xdm_connector.store.webhooks import AttemptResult, DeliveryState, Leased

log = logging.getLogger(__name__)

LEASED_STAGE: FaultStage = "webhook-leased"
SENT_STAGE: FaultStage = "webhook-sent"
BATCH = 20
"""Deliveries leased at once (sent one after the other)."""
USER_AGENT = f"xdm-connector/{__version__} (webhooks)"


class Waiting(Protocol):
    """How an idle dispatcher waits for new deliveries (``jobs/notify.py``'s ``Wakeups``)."""

    def wait(self, timeout: float) -> None: ...
    def close(self) -> None: ...


def retry_policy(settings: Settings) -> RetryPolicy:
    """The backoff between two attempts of a delivery."""
    return RetryPolicy(
        base_delay=settings.webhook_retry_base_seconds,
        multiplier=4.0,
        max_delay=settings.webhook_retry_max_seconds,
        jitter=0.2,
    )


class WebhookDispatcher:
    """Sends the outbox's deliveries until stopped.

    ``transport`` replaces the network (unit tests); ``clock`` is the time it leases and
    schedules by. ``wakeups`` makes what an idle dispatcher waits on from its stop event:
    ``XDMC_WEBHOOK_POLL_SECONDS`` of polling unless a new delivery wakes it sooner
    (``jobs/notify.py`` on PostgreSQL); plain polling when not given.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
        wakeups: Callable[[threading.Event], Waiting] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}:webhooks"
        self.lease = timedelta(seconds=4 * settings.webhook_timeout_seconds + 5)
        self.policy = retry_policy(settings)
        self._clock = clock
        self._key: WebhookKey | None = None
        self._client = httpx.Client(
            transport=transport,
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
            trust_env=False,
            headers={"user-agent": USER_AGENT},
        )
        self._stopping = threading.Event()
        self._wakeups = wakeups
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Send the deliveries due now; answers how many were attempted."""
        key = self._signing_key()
        if key is None:
            return 0
        leased = self.store.webhooks.lease(self.owner, key.id, self._clock(), self.lease, BATCH)
        for item in leased:
            if self._stopping.is_set():
                break  # the others' leases expire, and another dispatcher sends them
            self._deliver(key, item)
        return len(leased)

    def start_in_thread(self) -> None:
        """Run the loop in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the attempt in flight, if any."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._client.close()

    def _loop(self) -> None:
        waiting = None if self._wakeups is None else self._wakeups(self._stopping)
        try:
            self._turns(waiting)
        finally:
            if waiting is not None:
                waiting.close()

    def _turns(self, waiting: Waiting | None) -> None:
        while not self._stopping.is_set():
            try:
                attempted = self.run_once()
            except XdmcError as exc:
                log.warning("webhook dispatch failed: %s; trying again", exc)
                attempted = 0
            except Exception:
                log.exception("webhook dispatch failed; trying again")
                attempted = 0
            if not attempted and waiting is not None:
                waiting.wait(self.settings.webhook_poll_seconds)
            elif not attempted:
                self._stopping.wait(self.settings.webhook_poll_seconds)

    def _signing_key(self) -> WebhookKey | None:
        if self._key is None:
            self._key = WebhookKey.existing(self.settings.home)
        return self._key

    def _deliver(self, key: WebhookKey, item: Leased) -> None:
        delivery = item.delivery
        pause_at(LEASED_STAGE, self.settings.fault_pause_at, self.settings.home)
        body = delivery.body.encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                key.secret(delivery.webhook_id, item.key_salt),
                delivery.message_id,
                timestamp,
                body,
            ),
        }
        started = time.monotonic()
        status_code, error = self._send(item.url, headers, body)
        duration_ms = round((time.monotonic() - started) * 1000)
        pause_at(SENT_STAGE, self.settings.fault_pause_at, self.settings.home)
        result = self._result(item, status_code, error, duration_ms)
        try:
            self.store.webhooks.record_attempt(delivery.id, self.owner, result)
        except LeaseLost:
            log.warning(
                "webhook delivery %s (%s) was taken over while it was sent",
                delivery.message_id,
                delivery.webhook_id,
            )
            return
        log.info(
            "webhook %s: %s %s attempt %d: %s",
            delivery.webhook_id,
            delivery.event_type,
            delivery.message_id,
            delivery.attempts + 1,
            f"HTTP {status_code}" if status_code is not None else error,
            extra={"org": delivery.org_id},
        )

    def _send(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int | None, str]:
        """The answer's status code and an error ("" for a 2xx), or no code and why."""
        try:
            target = resolve_target(url, allow_private=self.settings.webhook_allow_private)
        except TargetRefused as exc:
            return None, exc.message
        except OSError as exc:
            return None, f"the host does not resolve ({type(exc).__name__})"
        try:
            with self._client.stream(
                "POST",
                target.url,
                content=body,
                headers={**headers, "host": target.host_header},
                extensions={"sni_hostname": target.host},
            ) as response:
                code = response.status_code
        except httpx.TimeoutException:
            return None, "no answer in time"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        if 200 <= code < 300:
            return code, ""
        if 300 <= code < 400:
            return code, f"HTTP {code}: redirects are not followed"
        return code, f"HTTP {code}"

    def _result(
        self, item: Leased, status_code: int | None, error: str, duration_ms: int
    ) -> AttemptResult:
        if not error:
            return AttemptResult(status_code, "", duration_ms, DeliveryState.DELIVERED)
        delivery = item.delivery
        wait = self.policy.backoff(delivery.attempts + 1)
        next_at = self._clock() + timedelta(seconds=wait)
        give_up_at = delivery.created_at + timedelta(
            seconds=self.settings.webhook_retry_period_seconds
        )
        if next_at > give_up_at:
            return AttemptResult(status_code, error, duration_ms, DeliveryState.FAILED)
        return AttemptResult(status_code, error, duration_ms, DeliveryState.PENDING, next_at)
