"""The one retry policy, on a fake clock and sleeper: no test waits."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from xdm_connector.errors import DestinationError, InvalidInput
from xdm_connector.retry import RetryPolicy
from xdm_connector.settings import Settings


@dataclass
class FakeTime:
    """A clock that only moves when someone sleeps."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


class Limited(DestinationError):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__("busy", transient=True)
        self.retry_after = retry_after


def policy(time: FakeTime, **overrides: object) -> RetryPolicy:
    values: dict[str, object] = {
        "attempts": 5,
        "base_delay": 1.0,
        "max_delay": 8.0,
        "jitter": 0.0,
        "sleep": time.sleep,
        "clock": time.clock,
        "random": lambda: 0.5,
    }
    values.update(overrides)
    return RetryPolicy(**values)  # type: ignore[arg-type]


def failing(errors: list[Exception], result: str = "done"):  # type: ignore[no-untyped-def]
    """An action raising ``errors`` one per call, then answering ``result``."""
    calls: list[int] = []

    def action() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    action.calls = calls  # type: ignore[attr-defined]
    return action


def transient() -> DestinationError:
    return DestinationError("try again", transient=True)


def test_transient_errors_are_retried_with_exponential_backoff_up_to_the_cap() -> None:
    time = FakeTime()
    action = failing([transient() for _ in range(4)])
    assert policy(time).call(action) == "done"
    assert time.sleeps == [1.0, 2.0, 4.0, 8.0]
    assert len(action.calls) == 5


def test_the_backoff_never_exceeds_its_cap() -> None:
    time = FakeTime()
    assert policy(time, attempts=8).call(failing([transient() for _ in range(7)])) == "done"
    assert time.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]


def test_jitter_shortens_each_wait_by_up_to_its_share() -> None:
    time = FakeTime()
    draws = iter([0.0, 1.0, 0.5])
    jittered = policy(time, jitter=0.5, random=lambda: next(draws))
    jittered.call(failing([transient() for _ in range(3)]))
    assert time.sleeps == [1.0, 1.0, 3.0]  # 1 * (1 - 0), 2 * (1 - .5), 4 * (1 - .25)


def test_the_last_error_goes_up_once_attempts_are_spent() -> None:
    time = FakeTime()
    errors = [transient() for _ in range(3)]
    last = errors[-1]
    with pytest.raises(DestinationError) as raised:
        policy(time, attempts=3).call(failing(errors))
    assert raised.value is last
    assert time.sleeps == [1.0, 2.0]


@pytest.mark.parametrize(
    "error",
    [DestinationError("refused"), InvalidInput("bad"), ValueError("a bug")],
    ids=["terminal", "other product error", "not a product error"],
)
def test_errors_that_are_not_transient_fail_at_once(error: Exception) -> None:
    time = FakeTime()
    action = failing([error])
    with pytest.raises(type(error)):
        policy(time).call(action)
    assert len(action.calls) == 1
    assert time.sleeps == []


def test_retry_after_is_never_shortened() -> None:
    time = FakeTime()
    assert policy(time).call(failing([Limited(5.0), Limited(0.5)])) == "done"
    assert time.sleeps == [5.0, 2.0]  # the server's 5 s, then the backoff's 2 s > 0.5 s


def test_a_retry_after_beyond_the_limit_is_not_waited_for() -> None:
    time = FakeTime()
    with pytest.raises(Limited):
        policy(time, max_retry_after=60.0).call(failing([Limited(3600.0)]))
    assert time.sleeps == []


def test_the_deadline_bounds_attempts_and_waits_together() -> None:
    time = FakeTime()
    with pytest.raises(DestinationError):
        policy(time, attempts=10, deadline=5.0).call(failing([transient() for _ in range(9)]))
    assert time.sleeps == [1.0, 2.0]  # a third wait (4 s) would end past 5 s


def test_a_policy_needs_one_attempt_at_least() -> None:
    with pytest.raises(ValueError, match="at least one attempt"):
        RetryPolicy(attempts=0)


def test_on_retry_hears_each_retry_before_its_wait() -> None:
    time = FakeTime()
    heard: list[tuple[int, str, float, int]] = []

    def on_retry(attempt: int, error: Exception, wait: float) -> None:
        heard.append((attempt, str(error), wait, len(time.sleeps)))

    errors = [DestinationError("first", transient=True), DestinationError("second", transient=True)]
    assert policy(time).call(failing(errors), on_retry=on_retry) == "done"
    assert heard == [(1, "first", 1.0, 0), (2, "second", 2.0, 1)]
    with pytest.raises(DestinationError):
        policy(time).call(failing([DestinationError("refused")]), on_retry=on_retry)
    assert len(heard) == 2  # a terminal error is not retried, so not heard


def answers(*values: str):  # type: ignore[no-untyped-def]
    """A read answering ``values`` one per call, then the last one again."""
    remaining = list(values)

    def read() -> str:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return read


def test_a_poll_done_at_once_does_not_wait() -> None:
    time = FakeTime()
    assert policy(time).poll(answers("done"), done=lambda answer: answer == "done") == "done"
    assert time.sleeps == []


def test_a_poll_waits_longer_each_time_up_to_the_cap() -> None:
    time = FakeTime()
    read = answers(*["running"] * 6, "done")
    assert policy(time, attempts=1).poll(read, done=lambda answer: answer == "done") == "done"
    assert time.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_failing_check_stops_the_poll_before_its_wait() -> None:
    time = FakeTime()
    checks: list[int] = []

    def check() -> None:
        checks.append(1)
        if len(checks) == 2:
            raise InvalidInput("stopped")

    with pytest.raises(InvalidInput, match="stopped"):
        policy(time).poll(answers("running"), done=lambda answer: False, check=check)
    assert time.sleeps == [1.0]


def test_a_poll_past_its_deadline_times_out() -> None:
    time = FakeTime()
    with pytest.raises(TimeoutError, match="status: no final answer within 10 s"):
        policy(time, deadline=10.0).poll(
            answers("running"), done=lambda answer: False, what="status"
        )
    assert time.sleeps == [1.0, 2.0, 4.0, 8.0]


def test_the_status_poll_starts_at_a_fifth_of_a_second_and_grows_by_half() -> None:
    status = Settings(status_poll_max_seconds=1.0).status_poll_policy()
    assert [round(status.backoff(n), 3) for n in range(1, 6)] == [0.2, 0.3, 0.45, 0.675, 1.0]
    assert status.deadline == 3600.0
