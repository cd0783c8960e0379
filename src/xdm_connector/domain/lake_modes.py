"""How a dataset's table in the lake keeps the records it is sent.

``append`` keeps every exported version of every record (as the platform's data lake
does); ``upsert`` keeps one row per record key (``_id``), the latest version. The default
follows the XDM class's behaviour: record classes (profile) are kept by key, time-series
classes (experience events) as a log.
"""

from __future__ import annotations

from enum import StrEnum

from xdm_connector.errors import InvalidInput


class LakeMode(StrEnum):
    """A dataset's lake table mode."""

    APPEND = "append"
    UPSERT = "upsert"


TIME_SERIES_BEHAVIOUR = "https://ns.adobe.com/xdm/data/time-series"
UPSERT_KEY = "_id"
"""The record key an ``upsert`` table merges on: XDM's record identifier."""


DELETED_COLUMN = "_xdmc_deleted"
"""A delete's column: true on a row that says its ``_id`` was deleted (an ``append`` table);
null on records."""
DELETED_AT_COLUMN = "_xdmc_deleted_at"
"""When the delete was found (UTC), on a delete's row."""
SEQUENCE_COLUMN = "_xdmc_sequence"
"""An ``append`` table's order of versions, on every row a job writes into one (records and
deletes): the job's id times 2^32 plus the row's place among the job's rows. Per ``_id``
the row of the greatest value is the latest. The jobs of a mapping commit in the order of
their ids (a job's Delta ``txn`` is its mapping's with the job's id as version, and a job
whose id the table's ``txn`` has reached never commits), so the value grows with every
commit of a key; it is written into the rows before the commit, so compactions and any
rewrite of the files keep it, where a file's commit time or a row's place in it change."""
SEQUENCE_SHIFT = 32
"""The bits of a row's place within its job's ``SEQUENCE_COLUMN`` value."""
OWN_COLUMN_PREFIX = "_xdmc_"
"""The columns the product adds to an ``append`` table's records (``SEQUENCE_COLUMN``) and
deletes (``DELETED_COLUMN``, ``DELETED_AT_COLUMN``)."""
DELETES_PREFIX = "deletes-"
"""The name of a batch's files of deletes (``deletes-00000.parquet``): keys, not records."""


def default_lake_mode(behaviour: str | None) -> LakeMode:
    """The mode of a dataset whose class extends ``behaviour`` (record or time-series)."""
    return LakeMode.APPEND if behaviour == TIME_SERIES_BEHAVIOUR else LakeMode.UPSERT


def parse_lake_mode(text: str) -> LakeMode:
    """A mode named by the user; ``InvalidInput`` for any other word."""
    try:
        return LakeMode(text)
    except ValueError:
        raise InvalidInput(f"lake mode {text!r} must be 'append' or 'upsert'") from None
