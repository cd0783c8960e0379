"""Cursor safety: rows written while exports run, some with equal or older audit values, all
reach the lake once, each key's last delivered version being its current one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.integration.engine.conftest import SOURCE_KINDS, Engine
from tests.integration.engine.writers import exports_during
from xdm_connector.domain.job_states import JobState
from xdm_connector.domain.windows import Bound, encode_bound
from xdm_connector.pipeline.lookback import LookBack

WRITES = 300


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


# A writer's body (``writers.CONNECTION`` before it): ties at the high-water mark, late commits 1 to 60 s old, inserts.
WRITER = """
for write in range(writes):
    pace(write)
    now = datetime.now(UTC).replace(tzinfo=None)
    kind_of_write = chooser.choice(["now", "now", "tie", "late", "insert", "late-insert"])
    if kind_of_write == "tie":  # the newest row's audit value: a tie at the high-water mark
        (at,) = execute("select max(lastModified) from profile").fetchone()
    elif kind_of_write in ("late", "late-insert"):  # committed late, with an older audit value
        at = stamp(now - timedelta(seconds=chooser.randint(1, 60)))
    else:
        at = stamp(now)
    email = f"w{write}@example.com"
    if kind_of_write.endswith("insert"):
        execute(
            "insert into profile (id, email, lastModified, created, gender)"
            " values (?, ?, ?, ?, 'female')",
            (next_id, email, at, at),
        )
        next_id += 1
    else:
        execute(
            "update profile set email = ?, lastModified = ? where id = ?",
            (email, at, chooser.randint(1, next_id - 1)),
        )
    time.sleep(0.004)
source.close()
"""


@pytest.mark.parametrize("source_kind", SOURCE_KINDS)
def test_rows_written_during_exports_reach_the_lake_once(engine: Engine) -> None:
    jobs = exports_during(engine, WRITER, writes=WRITES, seed=7)
    jobs += [engine.run(), engine.run()]
    assert all(job.state == JobState.SUCCESS for job in jobs), [job.reason for job in jobs]
    assert len(jobs) > 3

    current = {
        str(key): (email, modified if isinstance(modified, str) else _stamp(modified))
        for key, email, modified in _current_rows(engine)
    }
    table = engine.lake()
    emails = pc.struct_field(table.column("personalEmail"), [0]).to_pylist()
    modified = pc.struct_field(table.column("_repo"), [1]).to_pylist()
    versions = list(zip(table.column("_id").to_pylist(), emails, modified, strict=True))
    assert len(set(versions)) == len(versions), "a version was delivered twice"
    last: dict[str, tuple[str, str]] = {}
    for key, email, at in versions:  # in commit order: the last one wins
        last[key] = (email, _stamp(at.astimezone(UTC).replace(tzinfo=None)))
    assert last.keys() == current.keys()
    assert last == current
    assert sum((job.details or {}).get("lookbackSkipped", 0) for job in jobs) > 0


def _current_rows(engine: Engine) -> list[tuple[Any, ...]]:
    """Every profile's key, email and audit value, as the source has them now."""
    return engine.source_rows("select id, email, lastModified from profile")


def test_the_look_back_keeps_a_bounded_record_and_narrows_past_it() -> None:
    start = datetime(2026, 1, 1, 12, 0, 0)
    until = Bound(audit=start + timedelta(seconds=100), key=99)
    first = LookBack.start(None, seconds=300, max_keys=10)
    first.plan_cutoff(until)
    keys = pa.array(range(100), pa.int64())
    audits = pa.array([start + timedelta(seconds=key) for key in range(100)], pa.timestamp("us"))
    first.processed(keys, audits)
    document = first.document()
    assert document is not None
    assert sum(len(change["keys"]) for change in document["changes"]) <= 10
    assert document["exclusive"] is True  # past the bound, the span narrows

    watermark = {**encode_bound(until), "lookback": document}
    second = LookBack.start(watermark, seconds=300, max_keys=10)
    assert second.since is not None
    assert second.since.exclusive
    assert second.since.audit == start + timedelta(seconds=89)
    # The versions it remembers are skipped; a changed one is not.
    changed = pa.array(
        [start + timedelta(seconds=99), start + timedelta(seconds=120)], pa.timestamp("us")
    )
    skipped = second.skip(pa.array([99, 98], pa.int64()), changed)
    assert skipped is not None
    assert skipped.to_pylist() == [True, False]

    # Without a record of the recent past (an old watermark), the strict cursor.
    assert LookBack.start(encode_bound(until), seconds=300).since is None
