"""The ``Store``: the metadata store's transactions, and the queries of the product on them."""

from __future__ import annotations

from xdm_connector.sources.product_data import ProductData
from xdm_connector.store.delivered_records import DeliveredRecords
from xdm_connector.store.engine import DEFAULT_POOL_SIZE
from xdm_connector.store.jobs import JobQueue
from xdm_connector.store.maintenance import MaintenanceSchedule
from xdm_connector.store.mappings import MappingRecords
from xdm_connector.store.requests import IngestionRequests
from xdm_connector.store.slices import SliceQueue
from xdm_connector.store.tenants import Tenants
from xdm_connector.store.transactions import Transactions
from xdm_connector.store.webhooks import Webhooks
from xdm_connector.store.workers import WorkerRegistry


class Store(Transactions):
    """The metadata store (SQLite or PostgreSQL) behind every process of the product.

    ``product_data`` is where the connector keeps its data, which no source of its
    organizations may be (``ProductData.of(settings)``; by default the store alone).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        product_data: ProductData | None = None,
    ) -> None:
        self.product_data = product_data or ProductData.of_store(url)
        super().__init__(url, pool_size=pool_size)
        self.tenants = Tenants(self)
        self.mappings = MappingRecords(self)
        self.jobs = JobQueue(self)
        self.requests = IngestionRequests(self)
        self.slices = SliceQueue(self)
        self.workers = WorkerRegistry(self)
        self.maintenance = MaintenanceSchedule(self)
        self.webhooks = Webhooks(self)
        self.delivered_records = DeliveredRecords(self)
