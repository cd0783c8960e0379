"""The one settings class of the product, read from ``XDMC_*`` environment variables.

Built once at start-up (``Settings()``) and passed down; nothing reads the environment
anywhere else.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of one process (server, worker or command)."""

    model_config = SettingsConfigDict(env_prefix="XDMC_", extra="ignore")

    home: Path = Field(default=Path("var"))
    """Folder of the embedded setup: metadata database, demo source and lake."""

    database_url: str | None = None
    """SQLAlchemy URL of the metadata store; the embedded SQLite file under ``home`` if unset."""

    lake_path: Path | None = None
    """Root folder of the local data lake; ``home/lake`` if unset."""

    host: str = "127.0.0.1"
    """Address the HTTP server listens on."""

    port: int = 8080
    """Port the HTTP server listens on."""

    embedded_worker: bool = True
    """Whether ``serve`` also runs a worker (and scheduler) in the same process."""

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

    log_level: str = "INFO"
    """Level of the process's logs."""

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
    def demo_source_path(self) -> Path:
        """The demo organization's SQLite source database."""
        return (self.home / "demo-source.db").resolve()
