"""The in-memory destination: the batch life cycle and its failure switches."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xdm_connector.destinations.base import BatchState, BatchStatus, batch_id_for, check_name
from xdm_connector.destinations.memory import InMemoryDestination
from xdm_connector.errors import DestinationError, InvalidInput


@pytest.fixture
def part(tmp_path: Path) -> Path:
    path = tmp_path / "part-00000.parquet"
    pq.write_table(pa.table({"_id": ["a", "b", "c"]}), path)
    return path


def new_batch(destination: InMemoryDestination, key: str = "job-1") -> str:
    return destination.create_batch(
        org="acme", dataset="profiles", batch_key=key, file_format="parquet"
    )


def test_a_batch_is_created_filled_and_completed(part: Path) -> None:
    destination = InMemoryDestination()
    batch_id = new_batch(destination)
    assert destination.status(batch_id) == BatchStatus(BatchState.LOADING)
    destination.put_file(batch_id, part.name, part)
    destination.put_file(batch_id, part.name, part)  # the same name replaces
    destination.complete(batch_id)

    assert destination.status(batch_id) == BatchStatus(BatchState.SUCCESS, records=3)
    assert list(destination.batches[batch_id].files) == ["part-00000.parquet"]
    assert destination.batches[batch_id].files["part-00000.parquet"] == part.read_bytes()


def test_batch_ids_follow_the_batch_key() -> None:
    destination = InMemoryDestination()
    assert new_batch(destination, "job-1") == new_batch(destination, "job-1")
    assert new_batch(destination, "job-1") != new_batch(destination, "job-2")
    assert new_batch(destination, "job-1") == batch_id_for("acme", "profiles", "job-1")


def test_complete_is_idempotent_and_a_complete_batch_takes_no_file(part: Path) -> None:
    destination = InMemoryDestination()
    batch_id = new_batch(destination)
    destination.put_file(batch_id, part.name, part)
    destination.complete(batch_id)
    destination.complete(batch_id)
    assert new_batch(destination) == batch_id
    assert destination.status(batch_id).state is BatchState.SUCCESS
    with pytest.raises(DestinationError, match="not loading"):
        destination.put_file(batch_id, "part-00001.parquet", part)


def test_abort_then_create_again_starts_clean(part: Path) -> None:
    destination = InMemoryDestination()
    batch_id = new_batch(destination)
    destination.put_file(batch_id, part.name, part)
    destination.abort(batch_id)
    assert destination.status(batch_id).state is BatchState.ABORTED
    with pytest.raises(DestinationError, match="aborted"):
        destination.complete(batch_id)

    assert new_batch(destination) == batch_id
    assert destination.status(batch_id).state is BatchState.LOADING
    assert destination.batches[batch_id].files == {}


def test_unknown_batches() -> None:
    destination = InMemoryDestination()
    assert destination.status("nope").state is BatchState.UNKNOWN
    with pytest.raises(DestinationError, match="Unknown batch") as caught:
        destination.complete("nope")
    assert caught.value.batch_id == "nope"


def test_unsafe_names_are_refused(part: Path) -> None:
    destination = InMemoryDestination()
    with pytest.raises(InvalidInput):
        destination.create_batch(org="../x", dataset="d", batch_key="k", file_format="parquet")
    with pytest.raises(InvalidInput):
        destination.create_batch(org="o", dataset="d", batch_key="k", file_format="csv")
    batch_id = new_batch(destination)
    with pytest.raises(InvalidInput):
        destination.put_file(batch_id, ".hidden", part)


@pytest.mark.parametrize(
    "name", ["..", "a/b", "_staging", ".manifest", "a..b", "", "x" * 201, "a b", "é"]
)
def test_check_name_refuses_what_is_not_one_safe_segment(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_name(name, "Dataset")


@pytest.mark.parametrize("name", ["acme", "ACME@AdobeOrg", "profiles-2024.v1", "batch=1", "a_b"])
def test_check_name_accepts_plain_names(name: str) -> None:
    assert check_name(name, "Dataset") == name


def test_fail_on_the_nth_call(part: Path) -> None:
    destination = InMemoryDestination()
    destination.fail_on("put_file", call=2, message="disk full")
    batch_id = new_batch(destination)
    destination.put_file(batch_id, "part-00000.parquet", part)
    with pytest.raises(DestinationError, match="disk full") as caught:
        destination.put_file(batch_id, "part-00001.parquet", part)
    assert not caught.value.transient
    assert caught.value.batch_id == batch_id
    destination.put_file(batch_id, "part-00001.parquet", part)
    assert destination.calls.count(("put_file", batch_id)) == 3


def test_fail_transiently_k_times_then_succeed(part: Path) -> None:
    destination = InMemoryDestination()
    batch_id = new_batch(destination)
    destination.fail_transiently("complete", times=2)
    for _ in range(2):
        with pytest.raises(DestinationError) as caught:
            destination.complete(batch_id)
        assert caught.value.transient
    destination.complete(batch_id)
    assert destination.status(batch_id).state is BatchState.SUCCESS


def test_hang_until_released() -> None:
    destination = InMemoryDestination()
    destination.hang("create_batch", timeout=10)
    answers: list[str] = []
    caller = threading.Thread(target=lambda: answers.append(new_batch(destination)))
    caller.start()
    time.sleep(0.1)
    assert caller.is_alive()
    assert answers == []
    destination.release()
    caller.join(timeout=5)
    assert answers == [batch_id_for("acme", "profiles", "job-1")]


def test_hang_times_out_transiently() -> None:
    destination = InMemoryDestination()
    destination.hang("status", timeout=0.05)
    with pytest.raises(DestinationError, match="hung") as caught:
        destination.status("any")
    assert caught.value.transient


def test_batches_can_end_failed_after_processing(part: Path) -> None:
    destination = InMemoryDestination()
    refused = [{"code": "INGEST-1212-400", "description": "record 3 is too big", "recordCount": 1}]
    destination.end_failed(refused)
    destination.processing_for(polls=2)
    batch_id = new_batch(destination)
    destination.put_file(batch_id, part.name, part)
    destination.complete(batch_id)

    assert destination.status(batch_id).state is BatchState.PROCESSING
    assert destination.status(batch_id).state is BatchState.PROCESSING
    status = destination.status(batch_id)
    assert status == BatchStatus(BatchState.FAILED, errors=refused)
    assert status.error_text == "INGEST-1212-400 record 3 is too big"


def test_switches_name_real_methods() -> None:
    with pytest.raises(InvalidInput, match="No destination method"):
        InMemoryDestination().fail_on("upload")
