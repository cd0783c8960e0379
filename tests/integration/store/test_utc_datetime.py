"""``UtcDateTime``: aware datetimes in, aware UTC datetimes out, naive ones refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError

from tests.integration.store.conftest import make_world
from xdm_connector.errors import StoreError
from xdm_connector.store.models import UtcDateTime
from xdm_connector.store.store import Store

metadata = sa.MetaData()
moments = sa.Table(
    "utc_moments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UtcDateTime(), nullable=True),
)

PARIS_SUMMER = timezone(timedelta(hours=2))
NEW_YORK = timezone(timedelta(hours=-5))
VALUES = [
    datetime(2024, 6, 1, 12, 30, 15, 123456, tzinfo=UTC),
    datetime(2024, 6, 1, 14, 30, 15, 123457, tzinfo=PARIS_SUMMER),
    datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=NEW_YORK),
    datetime(1970, 1, 1, tzinfo=UTC),
]


def test_aware_datetimes_round_trip_as_utc_and_compare_as_instants(store: Store) -> None:
    metadata.create_all(store.engine)
    with store.engine.begin() as connection:
        connection.execute(
            moments.insert(), [{"id": i, "at": at} for i, at in enumerate([*VALUES, None])]
        )

    with store.engine.connect() as connection:
        read = connection.scalars(sa.select(moments.c.at).order_by(moments.c.id)).all()
        noon_in_paris = datetime(2024, 6, 1, 14, 30, 15, 123456, tzinfo=PARIS_SUMMER)
        later = connection.scalars(
            sa.select(moments.c.id).where(moments.c.at > noon_in_paris).order_by(moments.c.id)
        ).all()
        same = connection.scalars(sa.select(moments.c.id).where(moments.c.at == noon_in_paris))
        assert later == [1]
        assert same.all() == [0]

    assert read == [*VALUES, None]
    for value, original in zip(read, VALUES, strict=False):
        assert value is not None
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
        assert value == original
        assert value.microsecond == original.microsecond
    assert read[1] == datetime(2024, 6, 1, 12, 30, 15, 123457, tzinfo=UTC)
    assert read[2] == datetime(2024, 1, 1, 4, 59, 59, 999999, tzinfo=UTC)


def test_naive_datetimes_are_refused(store: Store) -> None:
    metadata.create_all(store.engine)
    with pytest.raises(StatementError) as raised, store.engine.begin() as connection:
        connection.execute(moments.insert(), {"id": 1, "at": datetime(2024, 6, 1, 12, 0)})
    assert isinstance(raised.value.orig, ValueError)
    assert "naive datetime" in str(raised.value.orig)
    with store.engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(moments)) == 0

    # Through the store: wrapped in StoreError, nothing written.
    make_world(store)
    store.jobs.request_ingestion("acme", "XDM1")
    with pytest.raises(StoreError):
        store.jobs.claim("worker", timedelta(minutes=1), datetime(2024, 6, 1, 12, 0))
    claimed = store.jobs.claim("worker", timedelta(minutes=1), datetime.now(UTC))
    assert claimed is not None
    assert claimed.attempt == 1
