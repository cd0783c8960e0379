"""A job's deletes at a destination that deletes by identity (the platform): work orders,
created once each, recorded on the job, and followed until they complete.

The deletes are read back from the job's files of deletes (``pipeline/deletes.py``, written
``with_identities``): each deleted record's primary identity, grouped by namespace, split
into work orders of at most the destination's ``max_identities``. Each work order is named
after what it deletes and the mapping's watermark the job started from::

    xdm-connector deletes acme/XDM44 3f2a...e1   (a digest of org, mapping, dataset,
                                                   watermark, namespace and identities)

so that the job run again after its worker died (same watermark, same deletes) finds it:
first among the work orders recorded on the job (``jobs.work_orders``, written as soon as
each is created), then by its name at the destination (the list call: a worker killed
between the creation and the record). Such a work order is followed, never created again;
one that failed is created anew by the next run.
A work order that fails fails the job with the platform's reason
(``WorkOrderFailed``)::

    orders = WorkOrders(store, settings, run)
    deleted = orders.send(delete_files)   # the identities the completed work orders deleted
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from xdm_connector.destinations.base import IdentityDeletes, WorkOrder
from xdm_connector.errors import DestinationError
from xdm_connector.faults import pause_at
from xdm_connector.pipeline.deletes import read_identities
from xdm_connector.pipeline.files import WrittenFile
from xdm_connector.pipeline.setup import JobRun
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store

NAME_PREFIX = "xdm-connector deletes"


class WorkOrderFailed(DestinationError):
    """A work order deleting the job's records failed at the destination."""


def chunks(ids: Sequence[str], size: int) -> list[Sequence[str]]:
    """``ids`` in runs of at most ``size``, in order."""
    return [ids[start : start + size] for start in range(0, len(ids), size)]


class WorkOrders:
    """Sends the deletes of one ``run`` of a job as work orders of its destination, which
    must delete by identity (``IdentityDeletes``)."""

    def __init__(self, store: Store, settings: Settings, run: JobRun) -> None:
        if not isinstance(run.opened.destination, IdentityDeletes):
            raise TypeError("the destination does not delete by identity")
        self.store = store
        self.settings = settings
        self.job = run.job
        self.dataset_id = run.context.dataset_id
        self.destination: IdentityDeletes = run.opened.destination
        self.control = run.control
        self.watermark = run.context.mapping.watermark

    def send(self, files: list[WrittenFile]) -> tuple[int, list[str]]:
        """Create (or find again) the work orders of the identities in ``files`` and follow
        them until they complete; answers the identities deleted and the work orders' ids.
        Raises ``WorkOrderFailed`` for one that fails."""
        return self.send_identities(
            pair for written in files for pair in read_identities(written.path)
        )

    def send_identities(self, identities: Iterable[tuple[str, str]]) -> tuple[int, list[str]]:
        """As ``send``, for the primary identities (namespace, id) given, in order."""
        groups = self._identities(identities)
        recorded: list[dict[str, Any]] = list(self.job.work_orders or [])
        known = {entry["name"]: entry for entry in recorded}
        wanted: list[dict[str, Any]] = []
        for namespace, ids in groups.items():
            for chunk in chunks(ids, self.destination.max_identities):
                name = self._name(namespace, chunk)
                entry = known.get(name)
                if entry is None:
                    self.control.check()
                    entry = {"id": self._order(namespace, chunk, name).id, "name": name}
                    entry["identities"] = len(chunk)
                    recorded.append(entry)
                    # Recorded at once: the job run again follows it, never creates it again.
                    self.store.jobs.record_work_orders(self.job.id, self.control.owner, recorded)
                    known[name] = entry
                wanted.append(entry)
        pause_at("ordered", self.settings.fault_pause_at, self.settings.home)
        for entry in wanted:
            self._follow(entry["id"])
        return sum(int(entry["identities"]) for entry in wanted), [e["id"] for e in wanted]

    def _identities(self, identities: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
        """The primary identities of the deleted records, by namespace, each once."""
        groups: dict[str, dict[str, None]] = {}
        for namespace, identity in identities:
            groups.setdefault(namespace, {})[identity] = None
        return {namespace: list(ids) for namespace, ids in groups.items()}

    def _name(self, namespace: str, ids: Sequence[str]) -> str:
        """The work order's name: what it deletes, from which watermark (see the module)."""
        job = self.job
        digest = hashlib.sha256()
        head = [job.org_id, job.mapping_id, self.dataset_id, namespace]
        head.append(json.dumps(self.watermark, sort_keys=True, default=str))
        for part in [*head, *ids]:
            digest.update(part.encode() + b"\0")
        return f"{NAME_PREFIX} {job.org_id}/{job.mapping_id} {digest.hexdigest()[:32]}"

    def _order(self, namespace: str, ids: Sequence[str], name: str) -> WorkOrder:
        """The work order named ``name``: the destination's already (unless it failed: an
        earlier run's, whose deletes are tried again), or a new one."""
        found = [order for order in self.destination.deletes_named(name) if not order.failed]
        if found:
            return found[0]
        return self.destination.order_deletes(
            dataset=self.dataset_id, namespace=namespace, ids=ids, name=name
        )

    def _follow(self, work_order_id: str) -> WorkOrder:
        """The work order once completed, polled as a batch's status is
        (``Settings.status_poll_policy``)."""
        try:
            order = self.settings.status_poll_policy().poll(
                lambda: self.destination.deletes_status(work_order_id),
                done=lambda order: order.ended,
                check=self.control.check,
                what=f"status of work order {work_order_id}",
            )
        except TimeoutError:
            raise DestinationError(
                f"work order {work_order_id} was not processed in time", transient=True
            ) from None
        if order.failed:
            reason = order.reason or "no reason given"
            raise WorkOrderFailed(
                f"the platform failed work order {work_order_id}, which deletes the job's "
                f"records: {reason}",
                errors=[{"code": "WORK-ORDER-FAILED", "description": reason, "id": work_order_id}],
            )
        return order
