"""The store's and the lake's upkeep on a schedule, each task run by one worker at a time:
the lake's ``optimize`` and ``vacuum``, and the pruning of the webhook deliveries that
ended more than ``XDMC_WEBHOOK_RETENTION_DAYS`` ago (hourly; never a pending one).

Settings (0 turns a task off): ``XDMC_LAKE_OPTIMIZE_INTERVAL_MINUTES``,
``XDMC_LAKE_VACUUM_INTERVAL_HOURS``, ``XDMC_LAKE_VACUUM_RETAIN_HOURS`` and
``XDMC_WEBHOOK_RETENTION_DAYS``. Each turn of a
worker's loop asks the store whether a task's slot is due and takes it if so
(``store/maintenance.py``): whatever the number of workers, one runs each task once per
interval, over every table of every organization on the lake
(``destinations/lake_maintenance.py``, safe while jobs commit). A task that fails is
logged and waits for its next slot; it never fails a job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from xdm_connector.destinations.factory import OrgDestinations
from xdm_connector.destinations.lake_maintenance import LakeMaintenance, TableUpkeep
from xdm_connector.errors import XdmcError
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store

log = logging.getLogger(__name__)

OPTIMIZE_TASK = "lake-optimize"
VACUUM_TASK = "lake-vacuum"
WEBHOOK_PRUNE_TASK = "webhook-prune"
WEBHOOK_PRUNE_INTERVAL = timedelta(hours=1)


class ScheduledMaintenance:
    """The scheduled upkeep of the lakes of ``destinations``' organizations, and of the
    webhook outbox."""

    def __init__(self, store: Store, settings: Settings, destinations: OrgDestinations) -> None:
        self.store = store
        self.settings = settings
        self.maintenance = LakeMaintenance(destinations)

    def run_due(self, owner: str, now: datetime) -> list[TableUpkeep]:
        """Run the tasks whose slot ``owner`` takes at ``now``; answers what they did to
        the lake."""
        done: list[TableUpkeep] = []
        optimize = timedelta(minutes=self.settings.lake_optimize_interval_minutes)
        if optimize and self.store.maintenance.take(OPTIMIZE_TASK, optimize, owner, now):
            done += self._run(OPTIMIZE_TASK, self.maintenance.optimize)
        vacuum = timedelta(hours=self.settings.lake_vacuum_interval_hours)
        if vacuum and self.store.maintenance.take(VACUUM_TASK, vacuum, owner, now):
            retain = self.settings.lake_vacuum_retain_hours
            done += self._run(VACUUM_TASK, lambda: self.maintenance.vacuum(retain_hours=retain))
        self.prune_webhook_deliveries(owner, now)
        return done

    def prune_webhook_deliveries(self, owner: str, now: datetime) -> int | None:
        """Delete the webhook deliveries past their retention if ``owner`` takes the task's
        slot at ``now``; answers how many went (None: not its turn, or turned off)."""
        retention = timedelta(days=self.settings.webhook_retention_days)
        if not retention or not self.store.maintenance.take(
            WEBHOOK_PRUNE_TASK, WEBHOOK_PRUNE_INTERVAL, owner, now
        ):
            return None
        try:
            pruned = self.store.webhooks.prune(now - retention)
        except XdmcError as exc:
            log.warning("the scheduled %s failed: %s", WEBHOOK_PRUNE_TASK, exc)
            return None
        log.info("scheduled %s: %d deliveries removed", WEBHOOK_PRUNE_TASK, pruned)
        return pruned

    @staticmethod
    def _run(task: str, run: Callable[[], list[TableUpkeep]]) -> list[TableUpkeep]:
        try:
            done = run()
        except XdmcError as exc:
            log.warning("the scheduled %s failed: %s", task, exc)
            return []
        log.info(
            "scheduled %s: %d tables, %d files removed",
            task,
            len(done),
            sum(upkeep.files_removed for upkeep in done),
        )
        return done
