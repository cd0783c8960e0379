"""``lake query`` and ``lake history``: SQL over a dataset's Delta table, as of a version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.lake import lake_table
from tests.tables import read_table
from xdm_connector.cli import app
from xdm_connector.demo.setup import prepare_demo
from xdm_connector.destinations.lake_query import query_dataset
from xdm_connector.destinations.lake_tables import LakeTables
from xdm_connector.domain.job_states import JobState
from xdm_connector.errors import InvalidInput, NotFound
from xdm_connector.jobs.worker import Worker
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store


def put(lake: LakeTables, key: str, path: Path, *, complete: bool = True) -> None:
    batch_id = lake.create_batch(
        org="acme", dataset="profiles", batch_key=key, file_format="parquet"
    )
    lake.put_file(batch_id, "part-00000.parquet", path)
    if complete:
        lake.complete(batch_id)


@pytest.fixture
def lake(tmp_path: Path) -> LakeTables:
    lake = LakeTables(tmp_path / "lake")
    first = tmp_path / "a.parquet"
    pq.write_table(pa.table({"_id": ["1", "2"], "score": [1, 2]}), first)
    put(lake, "one", first)
    second = tmp_path / "b.parquet"
    pq.write_table(pa.table({"_id": ["3"], "score": [3]}), second)
    put(lake, "two", second)
    put(lake, "three", first, complete=False)
    return lake


def test_a_query_sees_committed_records_as_of_any_version(lake: LakeTables) -> None:
    result = query_dataset(lake, "acme", "profiles", "select _id, score from profiles order by _id")
    assert result.columns == ["_id", "score"]
    assert result.rows == [("1", 1), ("2", 2), ("3", 3)]
    count = "select count(*) as n from dataset"
    assert query_dataset(lake, "acme", "profiles", count).records() == [{"n": 3}]
    assert query_dataset(lake, "acme", "profiles", count, version=0).records() == [{"n": 2}]


def test_an_empty_dataset_or_a_bad_query_is_an_error(lake: LakeTables) -> None:
    with pytest.raises(NotFound, match="no table"):
        query_dataset(lake, "acme", "nothing", "select 1")
    with pytest.raises(NotFound, match="no version 7"):
        query_dataset(lake, "acme", "profiles", "select 1", version=7)
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


def test_the_lake_is_written_then_queried_and_listed_from_the_command_line(
    store: Store, settings: Settings
) -> None:
    runner = CliRunner()
    # A fileFormat of json is for a platform: the lake stores Parquet in Delta whatever it says.
    answer = runner.invoke(
        app, ["orgs", "set-destination", "demo", '{"type": "lake", "fileFormat": "json"}']
    )
    assert answer.exit_code == 0, answer.output
    request = store.jobs.request_ingestion("demo", "XDM44").job.id
    Worker(store, settings).run_once()
    job = store.jobs.get("demo", "XDM44", request)
    assert job.state == JobState.SUCCESS, job.details
    assert (job.details or {})["tableVersion"] == 0
    assert lake_table(settings.lake_root, "demo", "profiles").num_rows == 50

    history = runner.invoke(
        app, ["lake", "history", "--org", "demo", "--dataset", "profiles", "--json"]
    )
    assert history.exit_code == 0, history.output
    [version] = orjson.loads(history.stdout)
    assert (version["version"], version["requestId"], version["jobId"], version["rows"]) == (
        0,
        request,
        job.id,
        50,
    )
    as_of = runner.invoke(
        app,
        [
            "lake",
            "query",
            "--org",
            "demo",
            "--dataset",
            "profiles",
            "--as-of-request",
            str(request),
            "--json",
            "select count(*) as n from profiles",
        ],
    )
    assert as_of.exit_code == 0, as_of.output
    assert orjson.loads(as_of.stdout) == [{"n": 50}]

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
