"""An organization's destination, as stored on the organization (``destination`` column).

Two kinds, told apart by ``type``; none stored means the installation's lake::

    {"type": "lake"}                                  # the lake of XDMC_LAKE_URL / _PATH
    {"type": "lake", "url": "s3://acme-lake/xdm"}     # a lake of the organization's own
    {"type": "platform",
     "imsUrl": "https://ims-na1.adobelogin.com",
     "platformUrl": "https://platform.adobe.io",
     "clientId": "0af2...", "clientSecret": "${ACME_PLATFORM_SECRET}",
     "imsOrgId": "5C1328435BF324E90A49402A@AdobeOrg", "sandbox": "prod",
     "fileFormat": "parquet", "partialIngestionPercentage": 5,
     "datasetIds": {"profiles": "5da9452f7de80400007jc52a"}}

The client secret is never stored: ``clientSecret`` must be a reference ``${NAME}`` to an
environment variable of the worker's process, read only when a token is requested.
``datasetIds`` maps the connector's dataset ids to the platform's (by default the same).

A mapping's watermark says what its destination already holds. When a change of the
destination sends a mapping's records somewhere else (``delivery_place``), its watermark is
reset (``services/organizations.py``) so that its next export sends every record there; changing only the file format, the
credentials or the ingestion threshold keeps it.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from xdm_connector.destinations.lake_storage import S3_URL, check_lake_url
from xdm_connector.domain.file_formats import FileFormat
from xdm_connector.errors import DestinationError, InvalidInput
from xdm_connector.sources.urls import SECRET_REFERENCE

_FILE_FORMATS: dict[str, FileFormat] = {"parquet": "parquet", "json": "jsonl"}


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    file_format: Literal["parquet", "json"] = Field(alias="fileFormat", default="parquet")
    """``parquet``, or ``json`` for JSON Lines (one object per line)."""

    @property
    def batch_file_format(self) -> FileFormat:
        """The format of the files the job writes (``parquet`` or ``jsonl``)."""
        return _FILE_FORMATS[self.file_format]


class LakeConfig(_Config):
    """The lake: Delta tables of Parquet files, the installation's (``XDMC_LAKE_URL`` or
    ``XDMC_LAKE_PATH``) or at an S3 ``url`` of the organization's own. The lake always
    stores Parquet: a ``fileFormat`` of ``json`` (JSON Lines) is kept for the platform."""

    type: Literal["lake"] = "lake"
    url: str | None = Field(default=None, pattern=S3_URL.pattern, max_length=1024)
    """``s3://bucket/prefix``; credentials come from the workers' AWS environment, never
    from here. A local folder is the installation's alone (``XDMC_LAKE_PATH``)."""

    @field_validator("url")
    @classmethod
    def _an_s3_lake(cls, url: str | None) -> str | None:
        if url is None:
            return None
        try:
            return check_lake_url(url)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    def location(self, default: str) -> str:
        """The lake's root: the organization's URL, else the installation's ``default``."""
        return check_lake_url(self.url) if self.url else default


class PlatformConfig(_Config):
    """Adobe Experience Platform, or the product's local platform service."""

    type: Literal["platform"]
    ims_url: str = Field(alias="imsUrl", pattern=r"^https?://[^\s]+$")
    platform_url: str = Field(alias="platformUrl", pattern=r"^https?://[^\s]+$")
    client_id: str = Field(alias="clientId", min_length=1, max_length=256)
    client_secret: str = Field(alias="clientSecret", pattern=SECRET_REFERENCE.pattern)
    """A reference ``${NAME}`` to an environment variable holding the secret."""
    ims_org_id: str = Field(alias="imsOrgId", min_length=1, max_length=256)
    sandbox: str = Field(default="prod", pattern=r"^[a-z0-9][a-z0-9-]{0,127}$")
    scope: str | None = None
    partial_ingestion_percentage: float = Field(
        alias="partialIngestionPercentage", default=5.0, ge=0, le=100
    )
    dataset_ids: dict[str, str] = Field(alias="datasetIds", default_factory=dict)

    def platform_dataset(self, dataset: str) -> str:
        """The platform's id of the connector's dataset ``dataset``."""
        return self.dataset_ids.get(dataset, dataset)

    def resolve_secret(self) -> str:
        """The client secret, read from its environment variable now."""
        match = SECRET_REFERENCE.fullmatch(self.client_secret)
        name = match.group(1) if match else ""
        value = os.environ.get(name)
        if not value:
            raise DestinationError(
                f"the platform client secret's environment variable {name} is not set"
            )
        return value


DestinationConfig = Annotated[LakeConfig | PlatformConfig, Field(discriminator="type")]
_ADAPTER: TypeAdapter[LakeConfig | PlatformConfig] = TypeAdapter(DestinationConfig)


def parse_destination(document: Any) -> LakeConfig | PlatformConfig:
    """A destination document checked; ``None`` is the default lake."""
    if document is None:
        return LakeConfig()
    if isinstance(document, dict) and "clientSecret" in document:
        secret = document["clientSecret"]
        if not (isinstance(secret, str) and SECRET_REFERENCE.fullmatch(secret)):
            raise InvalidInput(
                "clientSecret must reference an environment variable, as ${NAME}: "
                "the secret itself is never stored"
            )
    try:
        return _ADAPTER.validate_python(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'destination'}: {error['msg']}"
            for error in exc.errors(include_input=False)
        )
        raise InvalidInput(f"invalid destination: {problems}") from exc


def destination_document(config: LakeConfig | PlatformConfig) -> dict[str, Any]:
    """The stored form of a checked destination."""
    return config.model_dump(mode="json", by_alias=True, exclude_none=True)


def delivery_place(config: LakeConfig | PlatformConfig, dataset_id: str) -> tuple[str, ...]:
    """Where the records of the connector's dataset ``dataset_id`` land under ``config``:
    the installation's lake, or one platform dataset of an IMS organization and sandbox."""
    match config:
        case LakeConfig():
            return ("lake", config.url or "")
        case PlatformConfig():
            return (
                "platform",
                config.platform_url.rstrip("/"),
                config.ims_org_id,
                config.sandbox,
                config.platform_dataset(dataset_id),
            )
