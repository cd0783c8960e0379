"""The token endpoint's rate limit on failed attempts, shared through the store.

Failed token requests are counted per client id and per remote address over a sliding
window (10 failures in 5 minutes by default). Once either count is reached, every request
of that client id or from that address is refused with ``TooManyAttempts`` (429 and
``Retry-After``) without looking at its secret, until enough failures leave the window::

    with login_attempt(store, client_id, address):
        token = issue_token(store, client_id, client_secret, ttl)

Success resets nothing: a caller holding one valid credential cannot clear the count of
its address, nor a legitimate client the count of someone guessing its secret. The counts
live in the store, so every API process sees the same ones; the refused requests are not
counted, so a blocked caller is let in again on time whatever it keeps sending.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from xdm_connector.errors import AuthenticationError, XdmcError
from xdm_connector.security.credentials import digest
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store


@dataclass(frozen=True)
class RateLimit:
    """At most ``max_failures`` failed attempts per subject in ``window_seconds``."""

    max_failures: int = 10
    window_seconds: int = 300

    @property
    def window(self) -> timedelta:
        """The sliding window."""
        return timedelta(seconds=self.window_seconds)


DEFAULT_RATE_LIMIT = RateLimit()


class TooManyAttempts(XdmcError):
    """Too many failed token requests: retry after ``retry_after`` seconds (a 429)."""

    code = "429050"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed attempts; retry later")
        self.retry_after = retry_after


def subjects(client_id: str, address: str) -> list[str]:
    """What the failures are counted by: digests of the client id and of the address."""
    return [digest(f"client:{client_id}"), digest(f"address:{address}")]


def retry_after(failures: Sequence[datetime], limit: RateLimit, now: datetime) -> int | None:
    """Seconds until fewer than the limit of ``failures`` (oldest first) are in the window.

    ``None`` when the subject may try now.
    """
    if len(failures) < limit.max_failures:
        return None
    frees_at = failures[len(failures) - limit.max_failures] + limit.window
    return max(1, math.ceil((frees_at - now).total_seconds()))


def check(
    store: Store,
    client_id: str,
    address: str,
    limit: RateLimit = DEFAULT_RATE_LIMIT,
    now: datetime | None = None,
) -> None:
    """Raise ``TooManyAttempts`` if the client id or the address is over the limit."""
    now = now or utcnow()
    failures = store.tenants.login_failures.since(subjects(client_id, address), now - limit.window)
    waits = [retry_after(times, limit, now) for times in failures.values()]
    longest = max((wait for wait in waits if wait is not None), default=None)
    if longest is not None:
        raise TooManyAttempts(longest)


def record_failure(
    store: Store,
    client_id: str,
    address: str,
    limit: RateLimit = DEFAULT_RATE_LIMIT,
    now: datetime | None = None,
) -> None:
    """Count one failed attempt of the client id and of the address."""
    now = now or utcnow()
    store.tenants.login_failures.add(subjects(client_id, address), now, now - limit.window)


@contextmanager
def login_attempt(
    store: Store, client_id: str, address: str, limit: RateLimit = DEFAULT_RATE_LIMIT
) -> Iterator[None]:
    """Refuse the attempt if over the limit; count it if it fails to authenticate."""
    check(store, client_id, address, limit)
    try:
        yield
    except AuthenticationError:
        record_failure(store, client_id, address, limit)
        raise
