"""What the local platform service's batch processor has in hand, which a stopping service
names: the batches being processed (it waits for them) and those queued (left to the next
start)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from xdm_connector.local_platform.app import close_processor
from xdm_connector.local_platform.processing import BatchProcessor
from xdm_connector.local_platform.storage import PlatformStorage
from xdm_connector.xdm.registry import SchemaRegistry

WAIT_SECONDS = 30


class HeldProcessor(BatchProcessor):
    """A processor whose processing of a batch waits until the test lets it go."""

    def __init__(self, root: Path) -> None:
        super().__init__(PlatformStorage(root), SchemaRegistry.packaged())
        self.release = threading.Event()
        self.done: list[str] = []

    def process(self, batch_id: str) -> None:
        assert self.release.wait(WAIT_SECONDS)
        self.done.append(batch_id)


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_batches_are_queued_then_processing_then_gone(tmp_path: Path) -> None:
    processor = HeldProcessor(tmp_path)
    for batch_id in ("b1", "b2", "b3"):  # two threads: b3 waits for one
        processor.submit(batch_id)
    wait_for(lambda: processor.processing() == ["b1", "b2"])
    assert processor.queued() == ["b3"]

    processor.release.set()
    wait_for(lambda: sorted(processor.done) == ["b1", "b2", "b3"])
    wait_for(lambda: processor.processing() == [])
    assert processor.queued() == []
    processor.close()


def test_a_stopping_service_names_the_batches_it_waits_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    processor = HeldProcessor(tmp_path)
    for batch_id in ("b1", "b2", "b3"):
        processor.submit(batch_id)
    wait_for(lambda: processor.processing() == ["b1", "b2"])

    closing = threading.Thread(target=close_processor, args=(processor,))
    closing.start()
    said: list[str] = []

    def announced() -> bool:
        said.extend(capsys.readouterr().out.splitlines())
        return bool(said)

    wait_for(announced)
    processor.release.set()
    closing.join(timeout=WAIT_SECONDS)

    assert said == [
        "xdm-connector platform service waiting for batches b1, b2 being processed"
        " (1 more queued for the next start)"
    ]
    assert sorted(processor.done) == ["b1", "b2"]  # b3 is left to the next start
