"""The one settings class of the product, read from ``XDMC_*`` environment variables.

Built once at start-up (``Settings()``) and passed down; nothing reads the environment
anywhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from xdm_connector.retry import RetryPolicy

ParquetCompression = Literal["snappy", "zstd", "lz4", "gzip", "none"]
FaultStage = Literal[
    "extract",
    "written",
    "created",
    "ordered",
    "committed",
    "completed",
    "webhook-leased",
    "webhook-sent",
]
"""The stages at which a crash test may stop a process (``faults.py``): six of an export,
and two of a webhook delivery (``services/webhook_delivery.py``)."""


class Settings(BaseSettings):
    """Configuration of one process (server, worker or command)."""

    model_config = SettingsConfigDict(env_prefix="XDMC_", extra="ignore")

    home: Path = Field(default=Path("var"))
    """Folder of the embedded setup: metadata database, demo source and lake."""

    database_url: str | None = None
    """SQLAlchemy URL of the metadata store; the embedded SQLite file under ``home`` if unset."""

    lake_path: Path | None = None
    """Root folder of the local data lake; ``home/lake`` if unset."""

    lake_url: str | None = None
    """The lake's root as a URL: ``s3://bucket/prefix`` (credentials, region and endpoint
    from the standard ``AWS_*`` variables) or a local folder; ``lake_path`` if unset."""

    lake_optimize_interval_minutes: float = Field(default=0, ge=0)
    """How often one of the workers compacts the small files of every lake table (``lake
    optimize``); 0 never does."""

    lake_vacuum_interval_hours: float = Field(default=0, ge=0)
    """How often one of the workers vacuums every lake table (``lake vacuum``); 0 never."""

    lake_vacuum_retain_hours: int = Field(default=168, ge=0)
    """A scheduled vacuum removes the files that commits removed longer ago than this; below
    a table's retention (``delta.deletedFileRetentionDuration``, 168 by default) the vacuum
    is refused (logged), so that time travel within it keeps working."""

    host: str = "127.0.0.1"
    """Address the HTTP server listens on."""

    port: int = 8080
    """Port the HTTP server listens on."""

    embedded_worker: bool = True
    """Whether ``serve`` also runs a worker (and scheduler) in the same process."""

    api_processes: int = Field(default=1, gt=0)
    """Server processes ``serve`` starts, sharing its port (one per core serves the most)."""

    api_threads: int = Field(default=8, gt=0)
    """Threads of a server process that run its routes' store work at once; its store
    keeps that many connections open, and a few more for its embedded worker."""

    metrics_token: SecretStr | None = None
    """The bearer token ``/metrics`` asks of its scraper; unset (or empty), ``/metrics``
    is not served. Compared in constant time, never logged."""

    token_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    """Lifetime of the bearer tokens issued by ``/ims/token/v3``."""

    worker_poll_seconds: float = Field(default=0.5, gt=0)
    """How often an idle worker looks for new jobs."""

    lease_seconds: float = Field(default=60.0, gt=0)
    """How long a claimed job stays leased to its worker without a heartbeat."""

    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    """How long a stopping worker lets its running job finish before aborting it."""

    extract_batch_rows: int = Field(default=65_536, gt=0)
    """Rows per Arrow record batch read from a source database."""

    lookback_seconds: float = Field(default=300.0, ge=0)
    """How far back each incremental export reads again, for rows committed late with an
    older audit value (deduplicated against the rows already exported); 0 turns it off."""

    lookback_max_keys: int = Field(default=10_000, gt=0)
    """Most rows a watermark remembers from its look-back span (past it, the span narrows)."""

    slice_rows: int = Field(default=500_000, ge=0)
    """Rows per slice of a large job: a job with more rows than this is split by primary-key
    ranges that every worker takes part in, into one batch; 0 never splits a job."""

    retry_delay_seconds: float = Field(default=60.0, ge=0)
    """Wait before a scheduled job that failed transiently is run again (a new job)."""

    webhook_allow_private: bool = False
    """Whether webhooks may be sent to private, loopback and link-local addresses (for
    development and tests only; ``security/webhook_targets.py``)."""

    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    """Time limit of each phase (connect, send, answer) of one webhook attempt."""

    webhook_retry_base_seconds: float = Field(default=5.0, ge=0)
    """Wait after a webhook attempt first fails; four times longer after each next one."""

    webhook_retry_max_seconds: float = Field(default=3 * 3600.0, ge=0)
    """Longest wait between two attempts of a webhook delivery."""

    webhook_retry_period_seconds: float = Field(default=24 * 3600.0, gt=0)
    """How long a webhook delivery is tried before it is given up (``failed``)."""

    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    """How often an idle webhook dispatcher looks for deliveries due."""

    webhook_retention_days: int = Field(default=30, ge=0)
    """How long a webhook delivery that ended (delivered or given up) is kept, with its
    attempts, before the workers' maintenance deletes it (0: kept for ever)."""

    fault_pause_at: FaultStage | None = None
    """Fault injection, for crash tests only: the stage at which a worker or a webhook
    dispatcher stops and waits (one of ``FaultStage``; any other value is refused when the
    settings load); see ``faults.py``."""

    log_level: str = "INFO"
    """Level of the process's logs."""

    log_format: Literal["json", "text"] = "json"
    """Logs as JSON lines (with org, mapping, job and batch ids) or as text for people."""

    max_file_bytes: int = Field(default=128 * 1024 * 1024, gt=0)
    """Size at which a job's batch file is closed and the next one started."""

    parquet_compression: ParquetCompression = "zstd"
    """Codec of the Parquet files a job writes: ``zstd`` makes profile files about a third
    smaller than ``snappy``, which takes about a quarter less time to write them."""

    retry_attempts: int = Field(default=5, ge=1)
    """Attempts of a destination call, or of a read of the source, that fails transiently,
    the first one included."""

    retry_base_seconds: float = Field(default=0.5, ge=0)
    """Wait after a first transient failure; it doubles after each next one, with jitter."""

    retry_max_seconds: float = Field(default=30.0, ge=0)
    """Longest backoff between two attempts (a ``Retry-After`` answer may ask for more)."""

    status_poll_max_seconds: float = Field(default=10.0, gt=0)
    """Longest wait between two reads of a completed batch's status (it starts at 0.2 s)."""

    platform_timeout_seconds: float = Field(default=60.0, gt=0)
    """Time limit of one HTTP call to the platform or its IMS."""

    platform_large_file_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    """Files above this size are sent with the platform's large-file protocol (the
    platform's small-file upload takes up to 256 MB)."""

    platform_max_files_per_batch: int = Field(default=1500, gt=0)
    """The platform's guardrail: files in one batch. A job that would send more fails
    before sending anything."""

    platform_max_batch_bytes: int = Field(default=100 * 1024**3, gt=0)
    """The platform's guardrail: bytes of one batch (100 GB). A job that would send more
    fails before sending anything."""

    platform_max_record_bytes: int = Field(default=1024 * 1024, gt=0)
    """The platform's guardrail: the size of one record (1 MB), as a JSON Lines file holds
    it. A job with a larger record fails before sending anything."""

    platform_part_bytes: int = Field(default=256 * 1024 * 1024, gt=0, le=512_000_000)
    """Size of each ranged ``PATCH`` part of a large file (the platform takes 512,000,000)."""

    platform_home: Path | None = None
    """Folder of the local platform service (``platform serve``); ``home/platform`` if unset."""

    platform_max_file_bytes: int = Field(default=4 * 1024**3, gt=0)
    """The largest file the local platform service takes (a ``PUT``, or a large file's
    declared total); larger uploads are refused from their headers (413)."""

    platform_faults: bool = False
    """Whether the local platform service takes failure injection at ``/_local/faults``."""

    @property
    def store_url(self) -> str:
        """The metadata store's SQLAlchemy URL."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'metadata.db').resolve()}"

    @property
    def lake_root(self) -> Path:
        """The local data lake's root folder."""
        return (self.lake_path or self.home / "lake").resolve()

    @property
    def lake_location(self) -> str:
        """The lake's root: ``lake_url``, else the local folder ``lake_root``."""
        return self.lake_url or str(self.lake_root)

    @property
    def platform_root(self) -> Path:
        """The local platform service's folder: its clients, datasets, batches and lake."""
        return (self.platform_home or self.home / "platform").resolve()

    def retry_policy(self) -> RetryPolicy:
        """The retry policy these settings describe."""
        return RetryPolicy(
            attempts=self.retry_attempts,
            base_delay=self.retry_base_seconds,
            max_delay=self.retry_max_seconds,
        )

    def status_poll_policy(self) -> RetryPolicy:
        """How a batch's status is polled until the destination has processed it: soon at
        first (0.2 s, then 1.5 times longer each time, up to ``status_poll_max_seconds``),
        for an hour at most."""
        return RetryPolicy(
            base_delay=0.2,
            multiplier=1.5,
            max_delay=self.status_poll_max_seconds,
            jitter=0.0,
            deadline=3600.0,
        )

    @property
    def demo_source_path(self) -> Path:
        """The demo organization's SQLite source database."""
        return (self.home / "demo-source.db").resolve()
