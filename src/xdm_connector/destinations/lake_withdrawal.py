"""What withdrawing a committed ``append`` batch from its Delta table removes and restores.

A batch is withdrawn (``LakeTables.abort``) by removing the files its commit added. A
compaction (``OPTIMIZE``, ``lake optimize`` or any other Delta writer's) that ran between
that commit and the withdrawal has replaced them with larger files that also hold other
batches' rows; the withdrawal then removes the compaction's files and adds back the other
files the compaction had removed (still in the table's folder: only a vacuum deletes
them), as if the compaction had run without the batch. A chain of compactions is undone
whole. A withdrawal of another batch that undid a compaction the batch was in already
restored the batch's own files: from there on they are withdrawn as they are. Any other
commit that removed a file holding the batch's rows (a ``DELETE`` or ``MERGE`` by another
writer) makes the batch impossible to withdraw safely: ``DestinationError``, nothing
changed.

::

    plan = withdrawal_plan(batch_id, batch_files, commits_after_its_own, current_files)
    plan.removed   # current files holding the batch's rows
    plan.restored  # files to add back: the other rows those held
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson

from xdm_connector.errors import DestinationError

WITHDRAWN = "xdmc.withdrawn"
"""The commit information of a withdrawal (with ``xdmc.batch``, the batch withdrawn)."""
COMPACTION = "OPTIMIZE"


@dataclass(frozen=True)
class LogCommit:
    """One entry of a Delta table's log: its version, information and files."""

    version: int
    info: dict[str, Any]
    added: frozenset[str]
    removed: frozenset[str]

    @classmethod
    def parse(cls, version: int, text: bytes) -> LogCommit:
        """The commit of a log entry (``_delta_log/<version>.json``: one action a line)."""
        info: dict[str, Any] = {}
        added: set[str] = set()
        removed: set[str] = set()
        for line in text.splitlines():
            if not line.strip():
                continue
            action = orjson.loads(line)
            if "commitInfo" in action:
                info = action["commitInfo"]
            elif "add" in action:
                added.add(unquote(action["add"]["path"]))
            elif "remove" in action:
                removed.add(unquote(action["remove"]["path"]))
        return cls(version, info, frozenset(added), frozenset(removed))


@dataclass
class _Compaction:
    added: frozenset[str]
    removed: frozenset[str]


@dataclass(frozen=True)
class WithdrawalPlan:
    """The files a withdrawal removes, and those it adds back."""

    removed: frozenset[str] = field(default_factory=frozenset)
    restored: frozenset[str] = field(default_factory=frozenset)


def withdrawal_plan(
    batch_id: str,
    batch_files: Iterable[str],
    commits: Iterable[LogCommit],
    current: Iterable[str],
) -> WithdrawalPlan:
    """What withdrawing the batch takes: ``commits`` are the log's entries after the
    batch's own, in order; ``current`` the table's files now (see the module)."""
    own = frozenset(batch_files)
    compactions: list[_Compaction] = []
    for commit in commits:
        if commit.info.get("xdmc.batch") == batch_id and commit.info.get(WITHDRAWN):
            return WithdrawalPlan()  # withdrawn already
        holding = own.union(*(compaction.added for compaction in compactions))
        touched = commit.removed & holding
        if not touched:
            continue
        if commit.info.get("operation") == COMPACTION:
            compactions.append(_Compaction(commit.added, commit.removed))
        elif commit.info.get(WITHDRAWN):
            compactions = _without_undone(compactions, touched)
        else:
            operation = commit.info.get("operation", "an unknown operation")
            raise DestinationError(
                f"batch {batch_id} cannot be withdrawn: version {commit.version} of its table "
                f"({operation}) rewrote files holding its rows",
                batch_id=batch_id,
            )
    holding = own.union(*(compaction.added for compaction in compactions))
    others = frozenset().union(*(compaction.removed for compaction in compactions)) - holding
    now = frozenset(current)
    return WithdrawalPlan(removed=holding & now, restored=others - now)


def _without_undone(compactions: list[_Compaction], removed: frozenset[str]) -> list[_Compaction]:
    """The compactions left once another withdrawal removed ``removed``: it undid the
    compactions whose files it removed, and those they had compacted in turn."""
    undone = set(removed)
    left = list(compactions)
    changed = True
    while changed:
        changed = False
        for compaction in list(left):
            if compaction.added & undone:
                undone |= compaction.removed
                left.remove(compaction)
                changed = True
    return left
