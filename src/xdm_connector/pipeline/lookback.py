"""The look-back of incremental windows: rows re-read from the recent past, deduplicated.

See ``domain/windows.py`` for why. The state lives in the mapping's watermark document,
beside the bound::

    {"audit": {...}, "key": {...},
     "lookback": {"since": {"type": "datetime", "value": "2026-11-01T09:25:00"},
                  "exclusive": false,
                  "changes": [{"audit": {"type": "datetime", "value": "2026-11-01T09:29:58"},
                               "type": "int", "keys": [42, 57, 311]}, ...]}}

``changes`` holds the versions (key, audit value) processed with an audit value from
``since`` on, grouped by audit value (the rows of one change share it; their keys are
written as ``encode_value`` writes a value of ``type``): the next job skips a re-read row
whose version is there. A watermark written before the grouping holds ``seen``, a list of
``[key, audit]`` pairs, and is read as well. ``LookBack`` reads
that state at a job's start, decides each row, gathers the versions the job processes,
and writes the next state::

    lookback = LookBack.start(watermark, seconds=300, max_keys=10_000)
    window = Window(after, until, since=lookback.since)
    for batch in batches:
        skipped = lookback.skip(keys, audits)      # rows already exported, as they are
        lookback.processed(keys, audits)           # what this job saw
    document = {**encode_bound(until), "lookback": lookback.document(until)}

It remembers at most ``max_keys`` versions. Past that (a writer faster than ``max_keys``
rows in ``seconds``), it forgets the oldest audit values whole and its next span starts
after them (``exclusive``): a row committed late with one of those values is not read
again. It never does so silently: ``dropped`` counts the versions forgotten and
``narrowed_to`` the audit value the next span starts after; the job says so in its details
(``warnings``, ``lookbackDropped``) and ``/metrics``, and a mapping's reconciliation
repairs what the span missed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from xdm_connector.domain.windows import (
    Bound,
    Since,
    decode_bound,
    decode_value,
    decode_values,
    encode_value,
)

DEFAULT_MAX_KEYS = 10_000


def _minus(audit: Any, seconds: float) -> Any | None:
    """``audit`` moved back by ``seconds``, or None for a value that is not a time."""
    if isinstance(audit, dt.datetime | dt.date):
        return audit - dt.timedelta(seconds=seconds)
    return None


@dataclass
class LookBack:
    """The look-back of one job: where it starts, and the versions seen from there on."""

    seconds: float
    max_keys: int = DEFAULT_MAX_KEYS
    since: Since | None = None
    seen: dict[Any, Any] = field(default_factory=dict)
    skipped: int = 0
    dropped: int = 0
    """Versions forgotten past ``max_keys``: the look-back narrowed (``narrowed_to``)."""
    _seen_keys: pa.Array | None = None
    _seen_audits: pa.Array | None = None
    """The audit values of ``seen``, in its order (as ``_seen_keys``), as Arrow."""
    _new: dict[Any, Any] = field(default_factory=dict)
    _cutoff: Any = None
    _floor: Any = None

    @classmethod
    def start(
        cls, watermark: dict[str, Any] | None, *, seconds: float, max_keys: int = DEFAULT_MAX_KEYS
    ) -> LookBack:
        """The look-back of a job that starts from ``watermark`` (a mapping's)."""
        lookback = cls(seconds=seconds, max_keys=max_keys)
        after = decode_bound(watermark)
        state = (watermark or {}).get("lookback") or {}
        if after is None or seconds <= 0 or not state.get("since"):
            return lookback  # no complete record of the recent past: the strict cursor
        previous = Since(decode_value(state["since"]), bool(state.get("exclusive")))
        wanted = _minus(after.audit, seconds)
        if wanted is None:
            return lookback
        try:
            narrower = previous.audit >= wanted
        except TypeError:
            return lookback
        lookback.since = previous if narrower else Since(wanted)
        if "changes" in state:
            lookback.seen = _versions_of(state["changes"])
        else:
            lookback.seen = _versions_of_pairs(state.get("seen", []))
        return lookback

    def plan_cutoff(self, until: Bound) -> None:
        """Set the start of the next job's look-back from this job's upper bound."""
        self._cutoff = _minus(until.audit, self.seconds) if self.seconds > 0 else None

    def skip(self, keys: pa.Array, audits: pa.Array) -> pa.BooleanArray | None:
        """Which rows were already processed in this version (None: none of them)."""
        if not self.seen or self.since is None:
            return None
        if self._seen_keys is None:
            try:
                self._seen_keys = pa.array(list(self.seen), type=keys.type)
            except (pa.ArrowException, TypeError, ValueError):
                # Keys of another type (the key column changed): nothing was seen as it is.
                self.seen = {}
                return None
            try:
                self._seen_audits = pa.array(list(self.seen.values()), type=audits.type)
            except (pa.ArrowException, TypeError, ValueError):
                self._seen_audits = None  # compared one by one in Python below
        # Where each row's key stands among the versions seen (null: a key not seen).
        positions = pc.index_in(keys, value_set=self._seen_keys)
        if positions.null_count == len(positions):
            return None
        if self._seen_audits is not None:
            same = pc.fill_null(pc.equal(audits, self._seen_audits.take(positions)), False)
        else:
            seen_audits = list(self.seen.values())
            same = pa.array(
                [
                    position is not None and seen_audits[position] == audit
                    for position, audit in zip(
                        positions.to_pylist(), audits.to_pylist(), strict=True
                    )
                ],
                pa.bool_(),
            )
        found = pc.sum(same).as_py() or 0
        if not found:
            return None
        self.skipped += found
        return same

    def processed(self, keys: pa.Array, audits: pa.Array) -> None:
        """Remember the versions of rows this job processed that the next look-back covers."""
        if self._cutoff is None or not len(keys):
            return
        floor = self._cutoff if self._floor is None else self._floor
        pairs: Iterable[tuple[Any, Any]]
        try:
            recent = pc.greater_equal(audits, pa.scalar(floor, audits.type))
            rows = pc.indices_nonzero(pc.fill_null(recent, False))
            pairs = zip(keys.take(rows).to_pylist(), audits.take(rows).to_pylist(), strict=True)
        except (pa.ArrowException, TypeError, ValueError):
            pairs = [
                (key, audit)
                for key, audit in zip(keys.to_pylist(), audits.to_pylist(), strict=True)
                if audit is not None and _at_least(audit, floor)
            ]
        for key, audit in pairs:
            if self._floor is None or audit > self._floor:
                self._new[key] = audit
        if len(self._new) > 2 * self.max_keys:
            self._new = self._bounded(self._new)

    def recent_document(self) -> dict[str, Any]:
        """The versions this look-back gathered (one slice of a job), for ``merge_recent``."""
        return {
            "versions": [
                [encode_value(key), encode_value(audit)] for key, audit in self._new.items()
            ],
            "floor": None if self._floor is None else encode_value(self._floor),
            "dropped": self.dropped,
        }

    def merge_recent(self, document: dict[str, Any]) -> None:
        """Take in the versions another part of the same job gathered (``recent_document``).

        A part that dropped its oldest versions raised its floor; the merged floor is the
        highest, so that no dropped version is taken for unseen by the next job.
        """
        self.dropped += int(document.get("dropped", 0))
        floor = document.get("floor")
        if floor is not None:
            value = decode_value(floor)
            if self._floor is None or value > self._floor:
                self._floor = value
        for key, audit in document.get("versions", []):
            self._new[decode_value(key)] = decode_value(audit)
        if len(self._new) > 2 * self.max_keys:
            self._new = self._bounded(self._new)

    def document(self) -> dict[str, Any] | None:
        """The look-back state the next job starts from (None: the strict cursor)."""
        if self._cutoff is None:
            return None
        cutoff = self._cutoff
        kept = {key: audit for key, audit in self.seen.items() if _at_least(audit, cutoff)}
        kept.update(self._new)
        if self._floor is not None:
            kept = {key: audit for key, audit in kept.items() if audit > self._floor}
        kept = self._bounded(kept)
        since = Since(cutoff) if self._floor is None else Since(self._floor, exclusive=True)
        return {
            "since": encode_value(since.audit),
            "exclusive": since.exclusive,
            "changes": _changes_of(kept),
        }

    @property
    def narrowed_to(self) -> Any:
        """The audit value after which the next span starts, when it narrowed (else None):
        a row committed late at or before it is not read again."""
        return self._floor

    def narrowing_warning(self, *, repaired: bool) -> str | None:
        """What the job says when its look-back forgot versions (None: it did not);
        ``repaired``: the mapping's reconciliation repairs what it may miss."""
        if not self.dropped:
            return None
        after = self._floor.isoformat() if hasattr(self._floor, "isoformat") else self._floor
        repair = (
            "the mapping's next reconciliation repairs any it missed"
            if repaired
            else "a deletes section with a sweep (a reconciliation) would repair any it missed"
        )
        return (
            f"the look-back remembers at most {self.max_keys} versions "
            f"(XDMC_LOOKBACK_MAX_KEYS) and forgot {self.dropped}: the next job reads again "
            f"only the rows changed after {after}, so a row committed late with an older "
            f"audit value is not exported; {repair}"
        )

    def _bounded(self, versions: dict[Any, Any]) -> dict[Any, Any]:
        """At most ``max_keys`` versions: the oldest audit values are dropped whole."""
        if len(versions) <= self.max_keys:
            return versions
        ordered = sorted(versions.values(), reverse=True)
        floor = ordered[self.max_keys]
        if self._floor is None or floor > self._floor:
            self._floor = floor
        kept = {key: audit for key, audit in versions.items() if audit > floor}
        self.dropped += len(versions) - len(kept)
        return kept


def _changes_of(versions: dict[Any, Any]) -> list[dict[str, Any]]:
    """``versions`` (key: audit value) grouped by audit value and key type, for the
    watermark: each audit value is encoded once, each key as a bare value of its type."""
    groups: dict[tuple[type, Any, type], list[Any]] = {}
    for key, audit in versions.items():
        # The audit's type is part of the group: 1 and True are equal, yet not one value.
        groups.setdefault((type(audit), audit, type(key)), []).append(key)
    changes = []
    for (_, audit, key_type), keys in groups.items():
        if key_type in _BARE_TYPES:
            kind, values = key_type.__name__, keys
        else:
            encoded = [encode_value(key) for key in keys]
            kind, values = encoded[0]["type"], [value["value"] for value in encoded]
        changes.append({"audit": encode_value(audit), "type": kind, "keys": values})
    return changes


_BARE_TYPES = (bool, int, float, str)
"""Key types whose values ``encode_value`` writes as they are."""


def _versions_of(changes: list[dict[str, Any]]) -> dict[Any, Any]:
    """The versions (key: audit value) that ``_changes_of`` wrote."""
    versions: dict[Any, Any] = {}
    for change in changes:
        audit = decode_value(change["audit"])
        versions.update(dict.fromkeys(decode_values(change["type"], change["keys"]), audit))
    return versions


def _versions_of_pairs(pairs: list[list[Any]]) -> dict[Any, Any]:
    """The versions of a watermark written before ``changes``: ``[key, audit]`` pairs."""
    # Versions of one change share their audit value: each text is decoded once.
    audits: dict[tuple[str, Any], Any] = {}
    versions: dict[Any, Any] = {}
    for key, audit in pairs:
        marked = (audit["type"], audit["value"])
        if marked not in audits:
            audits[marked] = decode_value(audit)
        versions[decode_value(key)] = audits[marked]
    return versions


def _at_least(audit: Any, cutoff: Any) -> bool:
    try:
        return bool(audit >= cutoff)
    except TypeError:
        return False
