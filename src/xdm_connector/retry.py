"""The one retry policy of the product: exponential backoff with jitter, on transient errors.

An error is retried when it says it is transient (a ``transient`` attribute that is true,
as on ``ExportError``) and attempts remain; any other error goes up at once. The wait
before attempt ``n + 1`` grows as ``base * multiplier ** (n - 1)``, capped at
``max_delay``, then jittered down by up to ``jitter`` of itself so that many clients do not
retry in step. An error carrying ``retry_after`` (seconds, from a ``Retry-After`` header)
is never retried sooner than that; one asking for longer than ``max_retry_after`` is not
retried at all::

    policy = RetryPolicy(attempts=5, base_delay=0.5, max_delay=30.0)
    response = policy.call(lambda: client.send(request))

The same backoff paces a poll: ``policy.poll(read, done=...)`` reads until ``done`` says
so, waiting ``backoff(n)`` after the ``n``-th read, until the ``deadline``.

The clock, the sleeper and the random source are parameters, so tests run without waiting.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def _nothing() -> None:
    """No check between two reads."""


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` says that trying again may succeed."""
    return getattr(error, "transient", False) is True


def retry_after(error: BaseException) -> float | None:
    """The least wait ``error`` asks for before the next attempt (``Retry-After``), if any."""
    value = getattr(error, "retry_after", None)
    return float(value) if isinstance(value, int | float) and value >= 0 else None


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a call that failed transiently is tried again.

    ``attempts`` counts the first call: ``attempts=1`` never retries. ``deadline`` bounds
    the whole call (attempts and waits), in seconds; ``None`` leaves it to ``attempts``.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_retry_after: float = 300.0
    deadline: float | None = None
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")
        if self.base_delay < 0 or self.max_delay < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("delays must be positive and jitter between 0 and 1")

    def backoff(self, attempt: int) -> float:
        """The wait after the ``attempt``-th failure (from 1), jittered, without Retry-After."""
        ceiling = min(self.max_delay, self.base_delay * self.multiplier ** (attempt - 1))
        return ceiling * (1 - self.jitter * self.random())

    def delay(self, attempt: int, error: BaseException) -> float | None:
        """The wait before trying again after ``error``, or ``None`` to give up."""
        if attempt >= self.attempts or not is_transient(error):
            return None
        asked = retry_after(error)
        if asked is not None and asked > self.max_retry_after:
            return None
        return max(self.backoff(attempt), asked or 0.0)

    def call(
        self,
        action: Callable[[], T],
        *,
        what: str = "call",
        on_retry: Callable[[int, Exception, float], None] | None = None,
    ) -> T:
        """``action()``, tried again after transient errors as the policy says.

        ``on_retry(attempt, error, wait)`` runs before each wait (to count the retries, or
        to undo what the failed attempt left). The last error goes up unchanged when the
        policy gives up.
        """
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return action()
            except Exception as error:
                wait = self.delay(attempt, error)
                if wait is None or self._past_deadline(started, wait):
                    raise
                log.info(
                    "%s failed (attempt %d of %d): %s; retrying in %.2f s",
                    what,
                    attempt,
                    self.attempts,
                    type(error).__name__,
                    wait,
                )
                if on_retry is not None:
                    on_retry(attempt, error, wait)
                self.sleep(wait)

    def poll(
        self,
        read: Callable[[], T],
        *,
        done: Callable[[T], bool],
        check: Callable[[], None] = _nothing,
        what: str = "poll",
    ) -> T:
        """``read()`` until ``done`` says its answer is final, which is returned.

        Between two reads ``check()`` runs (it may raise, to stop the poll), then the wait
        ``backoff(n)`` after the ``n``-th read. ``TimeoutError`` once the ``deadline`` has
        passed without a final answer; ``attempts`` does not bound a poll.
        """
        started = self.clock()
        reads = 0
        while True:
            reads += 1
            answer = read()
            if done(answer):
                return answer
            if self.deadline is not None and self.clock() - started > self.deadline:
                raise TimeoutError(f"{what}: no final answer within {self.deadline:g} s")
            check()
            self.sleep(self.backoff(reads))

    def _past_deadline(self, started: float, wait: float) -> bool:
        return self.deadline is not None and self.clock() + wait - started > self.deadline
