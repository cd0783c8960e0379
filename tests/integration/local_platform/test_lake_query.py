"""``lake query``: SQL over a dataset's committed batches, Parquet and JSON Lines together."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.tables import read_table
from xdm_connector.cli import app
from xdm_connector.demo.setup import prepare_demo
from xdm_connector.destinations.lake import LakeDestination
from xdm_connector.destinations.lake_query import query_dataset
from xdm_connector.domain.job_states import JobState
from xdm_connector.errors import InvalidInput, NotFound
from xdm_connector.jobs.worker import Worker
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store


def put(lake: LakeDestination, key: str, name: str, path: Path, *, complete: bool = True) -> None:
    file_format = "jsonl" if name.endswith(".jsonl") else "parquet"
    batch_id = lake.create_batch(
        org="acme", dataset="profiles", batch_key=key, file_format=file_format
    )
    lake.put_file(batch_id, name, path)
    if complete:
        lake.complete(batch_id)


@pytest.fixture
def lake(tmp_path: Path) -> LakeDestination:
    lake = LakeDestination(tmp_path / "lake")
    parquet = tmp_path / "a.parquet"
    pq.write_table(pa.table({"_id": ["1", "2"], "score": [1, 2]}), parquet)
    put(lake, "one", "part-00000.parquet", parquet)
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_bytes(b'{"_id": "3", "flag": true}\n')
    put(lake, "two", "part-00000.jsonl", jsonl)
    put(lake, "three", "part-00000.parquet", parquet, complete=False)
    return lake


def test_a_query_sees_committed_batches_of_both_formats(lake: LakeDestination) -> None:
    result = query_dataset(
        lake, "acme", "profiles", "select _id, score, flag from profiles order by _id"
    )
    assert result.columns == ["_id", "score", "flag"]
    assert result.rows == [("1", 1, None), ("2", 2, None), ("3", None, True)]
    assert query_dataset(
        lake, "acme", "profiles", "select count(*) as n from dataset"
    ).records() == [{"n": 3}]


def test_an_empty_dataset_or_a_bad_query_is_an_error(lake: LakeDestination) -> None:
    with pytest.raises(NotFound, match="no committed batch"):
        query_dataset(lake, "acme", "nothing", "select 1")
    with pytest.raises(InvalidInput, match="the query failed"):
        query_dataset(lake, "acme", "profiles", "select nope from profiles")
    with pytest.raises(InvalidInput):
        query_dataset(lake, "../acme", "profiles", "select 1")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("XDMC_HOME", str(home))
    return Settings(home=home)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store(settings.store_url)
    opened.upgrade()
    prepare_demo(settings, opened, profiles=50)
    yield opened
    opened.close()


def test_a_lake_in_json_lines_is_written_and_queried_from_the_command_line(
    store: Store, settings: Settings
) -> None:
    runner = CliRunner()
    answer = runner.invoke(
        app, ["orgs", "set-destination", "demo", '{"type": "lake", "fileFormat": "json"}']
    )
    assert answer.exit_code == 0, answer.output
    assert orjson.loads(answer.output) == {"type": "lake", "fileFormat": "json"}
    request = store.jobs.request_ingestion("demo", "XDM44").job.id
    Worker(store, settings).run_once()
    job = store.jobs.get("demo", "XDM44", request)
    assert job.state == JobState.SUCCESS, job.details
    files = LakeDestination(settings.lake_root).committed_files("demo", "profiles")
    assert [path.suffix for path in files] == [".jsonl"]

    sql = "select person.gender as gender, count(*) as n from profiles group by 1 order by 1"
    queried = runner.invoke(
        app, ["lake", "query", "--org", "demo", "--dataset", "profiles", "--json", sql]
    )
    assert queried.exit_code == 0, queried.output
    rows = orjson.loads(queried.stdout)
    assert [set(row) for row in rows] == [{"gender", "n"}] * len(rows)
    assert sum(row["n"] for row in rows) == 50
    table = runner.invoke(
        app,
        [
            "lake",
            "query",
            "--org",
            "demo",
            "--dataset",
            "profiles",
            "select count(*) as n, 'fifty' as said from profiles",
        ],
    )
    printed = read_table(table.stdout)
    assert printed.records() == [{"n": "50", "said": "fifty"}]
    assert printed.aligned_right("n")


def test_set_destination_refuses_a_secret_in_clear(store: Store) -> None:
    document = {
        "type": "platform",
        "imsUrl": "http://x",
        "platformUrl": "http://x",
        "clientId": "c",
        "clientSecret": "plain-secret",
        "imsOrgId": "A@AdobeOrg",
    }
    answer = CliRunner().invoke(
        app, ["orgs", "set-destination", "demo", orjson.dumps(document).decode()]
    )
    assert answer.exit_code == 1
    assert "plain-secret" not in answer.output
    assert store.tenants.get_organization("demo").destination is None
