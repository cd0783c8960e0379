"""A job's deletes as work orders (``pipeline/work_orders.py``) against an in-memory
destination that deletes by identity: split by the limit, recorded as each is created,
followed, and never created twice for the same deletes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

from xdm_connector.destinations.base import WorkOrder
from xdm_connector.pipeline.deletes import DeleteWriter, primary_identities
from xdm_connector.pipeline.files import WrittenFile
from xdm_connector.pipeline.work_orders import WorkOrderFailed, WorkOrders
from xdm_connector.settings import Settings


@dataclass
class Deleter:
    """Deletes by identity in memory; ``fail`` fails the next work orders created."""

    max_identities: int = 2
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail: str = ""

    def order_deletes(
        self, *, dataset: str, namespace: str, ids: Sequence[str], name: str
    ) -> WorkOrder:
        work_order_id = f"DI-{len(self.orders) + 1}"
        status = "failed" if self.fail else "received"
        self.orders[work_order_id] = {"name": name, "ids": list(ids), "status": status}
        return self._order(work_order_id)

    def deletes_named(self, name: str) -> list[WorkOrder]:
        return [self._order(i) for i, order in self.orders.items() if order["name"] == name]

    def deletes_status(self, work_order_id: str) -> WorkOrder:
        order = self.orders[work_order_id]
        if order["status"] == "received":
            order["status"] = "completed"
        return self._order(work_order_id)

    def _order(self, work_order_id: str) -> WorkOrder:
        order = self.orders[work_order_id]
        return WorkOrder(work_order_id, order["status"], order["name"], self.fail)


@dataclass
class Jobs:
    recorded: list[list[dict[str, Any]]] = field(default_factory=list)

    def record_work_orders(self, job_id: int, owner: str, work_orders: list[Any]) -> None:
        self.recorded.append([dict(entry) for entry in work_orders])


def work_orders(deleter: Deleter, jobs: Jobs, recorded: list[Any] | None = None) -> WorkOrders:
    job = SimpleNamespace(id=7, org_id="acme", mapping_id="XDM44", work_orders=recorded)
    run = SimpleNamespace(
        job=job,
        context=SimpleNamespace(dataset_id="profiles", mapping=SimpleNamespace(watermark=None)),
        opened=SimpleNamespace(destination=deleter),
        control=SimpleNamespace(owner="w1", check=lambda: None),
    )
    store = SimpleNamespace(jobs=jobs)
    return WorkOrders(store, Settings(), run)


def deletes(tmp_path: Path, emails: list[str | None]) -> list[WrittenFile]:
    writer = DeleteWriter(tmp_path, with_identities=True)
    records = pa.table(
        {
            "_id": [str(n) for n in range(len(emails))],
            "identityMap": pa.array(
                [[("Email", [{"id": e, "primary": True}])] if e else None for e in emails],
                pa.map_(
                    pa.string(), pa.list_(pa.struct([("id", pa.string()), ("primary", pa.bool_())]))
                ),
            ),
        }
    )
    writer.write_records(records)
    return writer.close()


def test_deletes_are_split_by_the_limit_and_recorded_as_each_is_created(tmp_path: Path) -> None:
    deleter, jobs = Deleter(), Jobs()
    files = deletes(tmp_path, ["a@x", "b@x", "c@x", None, "a@x"])
    deleted, ids = work_orders(deleter, jobs).send(files)
    assert (deleted, ids) == (3, ["DI-1", "DI-2"])  # each identity once; none without one
    assert [order["ids"] for order in deleter.orders.values()] == [["a@x", "b@x"], ["c@x"]]
    assert [[entry["id"] for entry in entries] for entries in jobs.recorded] == [
        ["DI-1"],
        ["DI-1", "DI-2"],
    ]
    assert all(order["status"] == "completed" for order in deleter.orders.values())


def test_the_same_deletes_follow_the_work_orders_already_created(tmp_path: Path) -> None:
    deleter, jobs = Deleter(), Jobs()
    files = deletes(tmp_path, ["a@x", "b@x", "c@x"])
    work_orders(deleter, jobs).send(files)
    # Run again: recorded on the job (its first entry), or found by name (the second).
    again = work_orders(deleter, Jobs(), recorded=jobs.recorded[0])
    assert again.send(files) == (3, ["DI-1", "DI-2"])
    assert len(deleter.orders) == 2


def test_a_failed_work_order_fails_with_its_reason_and_is_created_anew(tmp_path: Path) -> None:
    deleter = Deleter(fail="the dataset is locked")
    files = deletes(tmp_path, ["a@x"])
    with pytest.raises(WorkOrderFailed, match="the dataset is locked") as raised:
        work_orders(deleter, Jobs()).send(files)
    assert raised.value.errors[0]["id"] == "DI-1"
    deleter.fail = ""
    assert work_orders(deleter, Jobs()).send(files) == (1, ["DI-2"])


def test_primary_identities_are_those_marked_primary() -> None:
    item = pa.struct([("id", pa.string()), ("primary", pa.bool_())])
    records = pa.table(
        {
            "identityMap": pa.array(
                [
                    [
                        ("ECID", [{"id": "e1", "primary": False}]),
                        ("Email", [{"id": "a", "primary": True}]),
                    ],
                    [("ECID", [{"id": "e2", "primary": None}])],
                    None,
                ],
                pa.map_(pa.string(), pa.list_(item)),
            )
        }
    )
    namespaces, ids = primary_identities(records)
    assert namespaces.to_pylist() == ["Email", None, None]
    assert ids.to_pylist() == ["a", None, None]
