"""The look-back's record of the recent past, carried from one job to the next: the
versions remembered are written again as they were read, only a job's own encoded."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa

from xdm_connector.domain.windows import Bound, encode_bound, encode_value
from xdm_connector.pipeline.lookback import LookBack

START = datetime(2026, 1, 1, 12, 0, 0)


def _job(watermark: dict[str, object] | None, changed: dict[int, datetime]) -> LookBack:
    """A job that processed the versions ``changed`` (key: audit value)."""
    until = Bound(audit=max(changed.values()), key=max(changed))
    lookback = LookBack.start(watermark, seconds=60)
    lookback.plan_cutoff(until)
    keys = pa.array(list(changed), pa.int64())
    lookback.processed(keys, pa.array(list(changed.values()), pa.timestamp("us")))
    return lookback


def _watermark(lookback: LookBack, until: Bound) -> dict[str, object]:
    document = lookback.document()
    assert document is not None
    return {**encode_bound(until), "lookback": document}


def test_a_job_carries_the_versions_it_read_and_adds_its_own() -> None:
    first_changes = {1: START, 2: START, 3: START + timedelta(seconds=1)}
    first = _watermark(_job(None, first_changes), Bound(START + timedelta(seconds=1), 3))
    read_pairs = first["lookback"]["seen"]  # type: ignore[index]

    later = START + timedelta(seconds=30)
    second = _job(first, {2: later, 4: later})
    document = second.document()

    assert document is not None
    assert document["seen"] == [
        [encode_value(1), encode_value(START)],
        [encode_value(2), encode_value(later)],
        [encode_value(3), encode_value(START + timedelta(seconds=1))],
        [encode_value(4), encode_value(later)],
    ]
    # The versions the second job did not change are the first one's pairs, not new ones.
    assert document["seen"][0] is read_pairs[0]
    assert document["seen"][2] is read_pairs[2]
    assert second.seen == {1: START, 2: START, 3: START + timedelta(seconds=1)}


def test_versions_older_than_the_look_back_are_forgotten() -> None:
    first = _watermark(_job(None, {1: START, 2: START}), Bound(START, 2))
    much_later = START + timedelta(minutes=5)

    document = _job(first, {5: much_later}).document()

    assert document is not None
    assert document["seen"] == [[encode_value(5), encode_value(much_later)]]
