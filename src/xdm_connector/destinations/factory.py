"""The destination of an organization's jobs, chosen from its stored configuration.

::

    with destination_for(organization, settings) as chosen:
        batch_id = chosen.destination.create_batch(..., file_format=chosen.file_format)

One ``match`` on the configuration's kind: the lake (the default) or a platform.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from xdm_connector.destinations.base import Destination
from xdm_connector.destinations.config import LakeConfig, PlatformConfig, parse_destination
from xdm_connector.destinations.lake import LakeDestination
from xdm_connector.destinations.platform import PlatformDestination
from xdm_connector.domain.file_formats import FileFormat
from xdm_connector.settings import Settings


def _nothing() -> None:
    return None


@dataclass
class OrgDestination:
    """A destination opened for some jobs, the format of the files it takes, and its closing."""

    destination: Destination
    file_format: FileFormat = "parquet"
    close: Callable[[], None] = field(default=_nothing)

    def __enter__(self) -> OrgDestination:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_destination(config: LakeConfig | PlatformConfig, settings: Settings) -> OrgDestination:
    """The destination ``config`` describes, with the process's settings."""
    match config:
        case LakeConfig():
            return OrgDestination(LakeDestination(settings.lake_root), config.batch_file_format)
        case PlatformConfig():
            platform = PlatformDestination(
                config,
                policy=settings.retry_policy(),
                timeout=settings.platform_timeout_seconds,
                large_file_bytes=settings.platform_large_file_bytes,
                part_bytes=settings.platform_part_bytes,
            )
            return OrgDestination(platform, config.batch_file_format, platform.close)


def destination_for(document: dict[str, Any] | None, settings: Settings) -> OrgDestination:
    """The destination of an organization whose stored configuration is ``document``."""
    return open_destination(parse_destination(document), settings)
