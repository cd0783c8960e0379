"""The destination of an organization's jobs, chosen from its stored configuration.

::

    destinations = OrgDestinations(store, settings)
    with destinations.open(org_id) as opened:
        batch_id = opened.destination.create_batch(..., file_format=opened.file_format)
    destinations.abort_batch(org_id, batch_id)  # best effort

One ``match`` on the configuration's kind: the lake (the default) or a platform. A
destination comes out ready: its calls are retried on transient errors by the settings'
policy (the lake's wrapped in ``RetryingDestination``; the platform's client retries each
HTTP call itself).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from xdm_connector.destinations.aep.destination import Guardrails, PlatformDestination
from xdm_connector.destinations.base import Destination
from xdm_connector.destinations.config import LakeConfig, PlatformConfig, parse_destination
from xdm_connector.destinations.lake_tables import LakeModes, LakeTables
from xdm_connector.destinations.retrying import RetryingDestination
from xdm_connector.domain.file_formats import FileFormat
from xdm_connector.domain.lake_modes import LakeMode
from xdm_connector.errors import NotFound, XdmcError
from xdm_connector.faults import pause_at
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store

log = logging.getLogger(__name__)


def _nothing() -> None:
    return None


@dataclass
class OpenedDestination:
    """A destination opened for some jobs, the format of the files it takes, and its closing.

    ``destination`` retries its calls on transient errors (see the module's docstring).
    """

    destination: Destination
    file_format: FileFormat = "parquet"
    close: Callable[[], None] = field(default=_nothing)
    takes_deletes: bool = False
    """Whether batches may hold files of deletes (``deletes-*.parquet``): the lake's do."""
    tables: LakeTables | None = None
    """The lake's tables, which a reconciliation reads (None: not a lake)."""

    def __enter__(self) -> OpenedDestination:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_destination(
    config: LakeConfig | PlatformConfig, settings: Settings, *, modes: LakeModes | None = None
) -> OpenedDestination:
    """The destination ``config`` describes, with the process's settings, retrying; a lake
    reads its datasets' modes from ``modes``."""
    match config:
        case LakeConfig():
            tables = LakeTables(
                config.location(settings.lake_location),
                modes=modes,
                after_commit=lambda: pause_at("committed", settings.fault_pause_at, settings.home),
            )
            retrying = RetryingDestination(tables, settings.retry_policy())
            return OpenedDestination(retrying, takes_deletes=True, tables=tables)
        case PlatformConfig():
            platform = PlatformDestination(
                config,
                policy=settings.retry_policy(),
                timeout=settings.platform_timeout_seconds,
                large_file_bytes=settings.platform_large_file_bytes,
                part_bytes=settings.platform_part_bytes,
                limits=Guardrails(
                    files_per_batch=settings.platform_max_files_per_batch,
                    batch_bytes=settings.platform_max_batch_bytes,
                    record_bytes=settings.platform_max_record_bytes,
                ),
            )
            return OpenedDestination(platform, config.batch_file_format, platform.close)


def destination_for(
    document: dict[str, Any] | None, settings: Settings, *, modes: LakeModes | None = None
) -> OpenedDestination:
    """The destination of an organization whose stored configuration is ``document``."""
    return open_destination(parse_destination(document), settings, modes=modes)


class BatchAborter(Protocol):
    """What aborts a destination batch of an organization (best effort)."""

    def abort_batch(self, org_id: str, batch_id: str) -> None:
        """Abort ``batch_id`` at the organization's destination; a failure is logged."""


class OrgDestinations:
    """The destinations of the organizations of ``store``, opened as their configurations say.

    ``override`` replaces every organization's destination (the tests' in-memory one); it
    is retried like the lake, unless it retries itself (a platform's client).
    """

    def __init__(
        self, store: Store, settings: Settings, *, override: Destination | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.override = override

    def open(self, org_id: str) -> OpenedDestination:
        """The destination of an organization's jobs, opened (close it after use)."""
        if self.override is None:
            organization = self.store.tenants.get_organization(org_id)
            return destination_for(organization.destination, self.settings, modes=self.lake_mode)
        if isinstance(self.override, PlatformDestination):
            return OpenedDestination(self.override)
        retrying = RetryingDestination(self.override, self.settings.retry_policy())
        return OpenedDestination(retrying, takes_deletes=isinstance(self.override, LakeTables))

    def lake(self, org_id: str | None = None) -> LakeTables:
        """The lake an organization's jobs deliver to, or would on the lake: its own URL, or
        the installation's (the installation's, without an organization)."""
        config = LakeConfig()
        if org_id is not None:
            try:
                organization = self.store.tenants.get_organization(org_id)
            except NotFound:
                organization = None  # no such organization: nothing of its own in any lake
            stored = parse_destination(organization.destination if organization else None)
            if isinstance(stored, LakeConfig):
                config = stored
        return LakeTables(config.location(self.settings.lake_location), modes=self.lake_mode)

    def lake_mode(self, org_id: str, dataset_id: str) -> LakeMode:
        """How the dataset's table keeps records, as the store says (``append`` for a
        dataset the store does not know)."""
        try:
            return LakeMode(self.store.tenants.get_dataset(org_id, dataset_id).lake_mode)
        except NotFound:
            return LakeMode.APPEND

    def abort_batch(self, org_id: str, batch_id: str) -> None:
        """Abort the organization's destination batch ``batch_id`` (best effort: logged)."""
        try:
            with self.open(org_id) as opened:
                opened.destination.abort(batch_id)
        except XdmcError as exc:
            log.warning("aborting batch %s of organization %s failed: %s", batch_id, org_id, exc)
