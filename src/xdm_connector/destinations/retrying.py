"""A destination whose every call is tried again on transient errors, by the one policy.

The platform's client retries each HTTP call itself (``destinations/aep/client.py``);
the other destinations (the lake, the in-memory one of the tests) are wrapped in this::

    destination = RetryingDestination(LakeDestination(root), settings.retry_policy())
    destination.put_file(batch_id, "part-00000.parquet", path)  # a full disk, tried again

Every call of the seam is safe to repeat: a batch is found again by its key, a file is
replaced by its name, ``complete`` and ``abort`` are no-ops the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from xdm_connector.destinations.base import BatchStatus, Destination
from xdm_connector.retry import RetryPolicy


class RetryingDestination:
    """``inner``, each call retried by ``policy`` when it fails transiently."""

    def __init__(self, inner: Destination, policy: RetryPolicy) -> None:
        self.inner = inner
        self.policy = policy

    def create_batch(self, *, org: str, dataset: str, batch_key: str, file_format: str) -> str:
        return self.policy.call(
            lambda: self.inner.create_batch(
                org=org, dataset=dataset, batch_key=batch_key, file_format=file_format
            ),
            what=f"create_batch {batch_key}",
        )

    def put_file(self, batch_id: str, name: str, path: Path, *, rows: int | None = None) -> None:
        self.policy.call(
            lambda: self.inner.put_file(batch_id, name, path, rows=rows), what=f"put {name}"
        )

    def complete(self, batch_id: str) -> None:
        self.policy.call(lambda: self.inner.complete(batch_id), what=f"complete {batch_id}")

    def abort(self, batch_id: str) -> None:
        self.policy.call(lambda: self.inner.abort(batch_id), what=f"abort {batch_id}")

    def status(self, batch_id: str) -> BatchStatus:
        return self.policy.call(lambda: self.inner.status(batch_id), what=f"status {batch_id}")

    def refused_keys(self, batch_id: str) -> list[str | None]:
        """The ``_id`` of each record ``inner`` refused in the batch, when it can tell (the
        platform's error diagnostics); none when it cannot."""
        named: Callable[[str], list[str | None]] | None = getattr(self.inner, "refused_keys", None)
        if named is None:
            return []
        return self.policy.call(lambda: named(batch_id), what=f"refused records of {batch_id}")
