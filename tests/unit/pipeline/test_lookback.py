"""The look-back's record of the recent past, carried from one job to the next: the
versions grouped by audit value, each key as a bare value of its type."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

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

    later = START + timedelta(seconds=30)
    second = _job(first, {2: later, 4: later})
    document = second.document()

    assert document is not None
    # One group per audit value: each value encoded once, each key bare.
    assert document["changes"] == [
        {"audit": encode_value(START), "type": "int", "keys": [1]},
        {"audit": encode_value(later), "type": "int", "keys": [2, 4]},
        {"audit": encode_value(START + timedelta(seconds=1)), "type": "int", "keys": [3]},
    ]
    assert second.seen == {1: START, 2: START, 3: START + timedelta(seconds=1)}


def test_versions_older_than_the_look_back_are_forgotten() -> None:
    first = _watermark(_job(None, {1: START, 2: START}), Bound(START, 2))
    much_later = START + timedelta(minutes=5)

    document = _job(first, {5: much_later}).document()

    assert document is not None
    assert document["changes"] == [{"audit": encode_value(much_later), "type": "int", "keys": [5]}]


def test_keys_of_every_type_come_back_as_they_were() -> None:
    keys = [Decimal("12.50"), "k-7", date(2026, 3, 1), START, 9]
    first = LookBack.start(None, seconds=60)
    first.plan_cutoff(Bound(audit=START, key=9))
    for key in keys:
        first._new[key] = START
    first._new[10] = START + timedelta(seconds=1)
    document = first.document()
    assert document is not None

    again = LookBack.start(_watermarked(document, START + timedelta(seconds=1)), seconds=60)

    assert again.seen == {**dict.fromkeys(keys, START), 10: START + timedelta(seconds=1)}
    assert all(type(found) is type(key) for found, key in zip(again.seen, keys, strict=False))


def test_a_watermark_of_key_and_audit_pairs_is_still_read() -> None:
    later = START + timedelta(seconds=1)
    pairs = [[encode_value(1), encode_value(START)], [encode_value(3), encode_value(later)]]
    older = {"since": encode_value(START - timedelta(seconds=60)), "seen": pairs}

    lookback = LookBack.start(_watermarked(older, later), seconds=60)

    assert lookback.seen == {1: START, 3: later}
    skipped = lookback.skip(pa.array([1, 2], pa.int64()), pa.array([START, START]))
    assert skipped is not None
    assert skipped.to_pylist() == [True, False]


def _watermarked(lookback: dict[str, object], until: datetime) -> dict[str, object]:
    return {**encode_bound(Bound(audit=until, key=1)), "lookback": lookback}


def test_a_row_is_skipped_only_in_the_version_seen() -> None:
    later = START + timedelta(seconds=1)
    seen = {"since": encode_value(START), "changes": [_change(START, [1, 2])]}
    lookback = LookBack.start(_watermarked(seen, later), seconds=60)

    skipped = lookback.skip(
        pa.array([1, 2, 3, None], pa.int64()), pa.array([START, later, START, START])
    )

    assert skipped is not None
    assert skipped.to_pylist() == [True, False, False, False]
    assert lookback.skipped == 1


def test_audit_values_of_another_type_are_never_taken_for_the_ones_seen() -> None:
    later = START + timedelta(seconds=1)
    seen = {"since": encode_value(START), "changes": [_change(START, [1, 2])]}
    lookback = LookBack.start(_watermarked(seen, later), seconds=60)

    # The audit column became text: the times seen cannot be cast to it, nor equal it.
    skipped = lookback.skip(
        pa.array([1, 2], pa.int64()), pa.array([START.isoformat(), "x"], pa.string())
    )

    assert lookback._seen_audits is None
    assert skipped is None
    assert lookback.skipped == 0


def _change(audit: object, keys: list[int]) -> dict[str, object]:
    return {"audit": encode_value(audit), "type": "int", "keys": keys}
