"""The ``xdm-connector`` command, end to end: the real command on a demo installation.

Each call starts a process (about a second), so the assertions are grouped by command.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import Installation, demo_credentials
from tests.lake import lake_table
from tests.tables import read_table
from xdm_connector.cli.tables import cell_text
from xdm_connector.destinations.lake_tables import LakeTables

PUBLISHED_LOG = [
    "ACP-880066",
    "ACP-880071",
    "ACP-880074",
    "ACP-880086",
    "ACP-880087",
    "ACP-880089",
    "ACP-880090",
    "ACP-880092",
]
BAD_PATH = "/optOutConsentLevel/privacyOptOuts/0/optOutType"
BAD_MAPPING = f"""
id: BAD
label: A mapping that does not publish
targetingDimension: profile
dataset: profiles
fieldMappings:
  - {{source: "@emial", xdm: "/personalEmail/address"}}
  - {{source: "'out'", xdm: "{BAD_PATH}"}}
"""
SHARED = "Dataset profiles is already used by mapping XDM44: its data may be overwritten"
# Every command that lists rows, with its table's header and its JSON objects' keys.
LISTINGS: list[tuple[tuple[str, ...], dict[str, str]]] = [
    (("orgs", "list"), {"ID": "id", "SOURCE URL": "sourceUrl"}),
    (("groups", "list", "--org", "demo"), {"NAME": "name", "ROLES": "roles"}),
    (
        ("groups", "roles", "--org", "demo", "--group", "Administrators"),
        {"NAME": "name", "LABEL": "label"},
    ),
    (
        ("integrations", "list", "--org", "demo"),
        {"CLIENT ID": "clientId", "NAME": "name", "GROUPS": "groups", "CREATED": "created"},
    ),
    (
        ("audit", "--org", "demo"),
        {
            "AT": "at",
            "ACTOR": "actor",
            "ACTION": "action",
            "TARGET": "target",
            "DETAILS": "details",
        },
    ),
    (
        ("datasets", "list", "--org", "demo"),
        {"ID": "id", "CLASS": "class", "FIELD GROUPS": "fieldGroups", "LAKE MODE": "lakeMode"},
    ),
    (
        ("mappings", "list", "--org", "demo"),
        {
            "ID": "id",
            "PUBLICATION": "publicationStatus",
            "EXECUTION": "executionStatus",
            "DATASET": "dataset",
            "LABEL": "label",
        },
    ),
    (
        ("mappings", "log", "--org", "demo", "XDM44"),
        {"AT": "at", "LEVEL": "level", "CODE": "code", "MESSAGE": "message"},
    ),
    (
        ("mappings", "jobs", "--org", "demo", "XDM44"),
        {
            "ID": "id",
            "STATUS": "status",
            "TRIGGER": "trigger",
            "READ": "recordsRead",
            "INGESTED": "recordsIngested",
            "REJECTED": "recordsRejected",
            "REFUSED": "recordsRefused",
            "DELETED": "recordsDeleted",
            "BATCH ID": "batchId",
            "REASON": "reason",
            "CAUSE": "cause",
            "WARNINGS": "warnings",
        },
    ),
]
TIME_KEYS = {"at", "created"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    """One demo installation on the embedded store, shared by the tests of this module."""
    installed = Installation(home=tmp_path_factory.mktemp("cli") / "home", database_url=None)
    installed.home.mkdir()
    installed.cli("demo")
    return installed


def as_cell(key: str, value: Any) -> str:
    """A JSON value as its table shows it."""
    return cell_text(dt.datetime.fromisoformat(value) if key in TIME_KEYS else value)


@pytest.mark.parametrize(
    ("command", "columns"), LISTINGS, ids=[" ".join(c[:2]) for c, _ in LISTINGS]
)
def test_every_listing_prints_a_table_or_the_same_rows_as_json(
    demo: Installation, command: tuple[str, ...], columns: dict[str, str]
) -> None:
    printed = demo.cli(*command)
    table = read_table(printed.stdout)
    assert table.headers == list(columns)
    for header in columns:
        assert table.aligned_left(header) or table.aligned_right(header), header

    as_json = demo.cli(*command, "--json")
    assert as_json.stderr == ""
    documents = orjson.loads(as_json.stdout)
    assert isinstance(documents, list)
    assert [list(document) for document in documents] == [list(columns.values())] * len(documents)
    assert table.records() == [
        {header: as_cell(key, document[key]) for header, key in columns.items()}
        for document in documents
    ]
    secret = demo_credentials(demo)["client_secret"]
    assert secret not in printed.stdout + as_json.stdout


def test_reading_mappings_and_datasets(demo: Installation) -> None:
    listed = read_table(demo.cli("mappings", "list", "--org", "demo").stdout)
    assert listed.records() == [
        {
            "ID": "XDM44",
            "PUBLICATION": "Published",
            "EXECUTION": "Stopped",
            "DATASET": "profiles",
            "LABEL": "Profiles to Platform",
        }
    ]

    mapping = orjson.loads(demo.cli("mappings", "get", "--org", "demo", "XDM44").stdout)
    assert (mapping["id"], mapping["dataset"]) == ("XDM44", "profiles")
    assert (mapping["publicationStatus"], mapping["executionStatus"]) == ("Published", "Stopped")
    assert {"source": "@email", "xdm": "/personalEmail/address"} in mapping["fieldMappings"]

    log = read_table(demo.cli("mappings", "log", "--org", "demo", "XDM44").stdout)
    assert log.column("CODE") == PUBLISHED_LOG
    assert set(log.column("LEVEL")) == {"info"}
    assert log.column("MESSAGE")[-1] == "Mapping is published and mapping job is created"

    jobs = read_table(demo.cli("mappings", "jobs", "--org", "demo", "XDM44").stdout)
    assert jobs.rows == []

    preview = orjson.loads(
        demo.cli("mappings", "preview", "--org", "demo", "XDM44", "--limit", "2").stdout
    )
    assert (preview["mapping"], preview["definition"], preview["problems"]) == (
        "XDM44",
        "draft",
        [],
    )
    assert [record["key"] for record in preview["records"]] == [1, 2]
    first = preview["records"][0]
    assert first["errors"] == []
    assert first["record"]["_id"] == "1"
    assert first["record"]["identityMap"]["Email"][0]["primary"] is True

    datasets = read_table(demo.cli("datasets", "list", "--org", "demo").stdout)
    assert [row[:2] for row in datasets.rows] == [
        ["profiles", "https://ns.adobe.com/xdm/context/profile"]
    ]
    assert "https://ns.adobe.com/xdm/context/identitymap" in datasets.rows[0][2].split(", ")
    dataset = orjson.loads(demo.cli("datasets", "get", "--org", "demo", "profiles").stdout)
    assert dataset["id"] == "profiles"
    properties = dataset["schema"]["properties"]
    assert {"person", "personalEmail", "identityMap", "_repo"} <= set(properties)
    assert "xdm:person" not in properties

    for args, message in [
        (("mappings", "jobs", "--org", "demo", "NOPE"), "XDMC-404 unknown mapping NOPE"),
        (("datasets", "get", "--org", "demo", "nope"), "XDMC-404 unknown dataset nope"),
    ]:
        refused = demo.cli(*args, check=False)
        assert refused.returncode == 1, args
        assert refused.stderr.startswith("error: "), args
        assert message in refused.stderr, args


def test_a_bad_mapping_fails_to_publish_and_its_draft_is_deleted(
    demo: Installation, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_MAPPING, encoding="utf-8")

    applied = demo.cli("mappings", "apply", "--org", "demo", str(bad))
    assert applied.stdout == "mapping BAD created\n"
    assert applied.stderr == f"warning: {SHARED}\n"

    published = demo.cli("mappings", "publish", "--org", "demo", "BAD", check=False)
    assert published.returncode == 1
    table = read_table(published.stdout)
    assert table.headers == ["LEVEL", "CODE", "MESSAGE"]
    printed = [f"{code} {message}" for _level, code, message in table.rows]
    assert printed[0] == "ACP-880066 Starting Mapping validation"
    assert f"ACP-880071 {SHARED}" in printed
    assert f"ACP-880189 The XDM field {BAD_PATH} is not a valid field of the XDM schema" in printed
    assert any(line.startswith("ACP-880087") and "@emial" in line for line in printed)
    assert printed[-1] == (
        "ACP-880185 Mapping validation has failed. Please check the error in the logs and "
        "change the mapping accordingly."
    )
    assert {"warning", "error"} <= set(table.column("LEVEL"))
    again = demo.cli("mappings", "publish", "--org", "demo", "BAD", "--json", check=False)
    assert again.returncode == 1
    assert [f"{line['code']} {line['message']}" for line in orjson.loads(again.stdout)] == printed

    preview = orjson.loads(demo.cli("mappings", "preview", "--org", "demo", "BAD").stdout)
    assert preview["records"] == []
    assert {problem["code"] for problem in preview["problems"]} == {"ACP-880087", "ACP-880189"}

    refused = demo.cli("mappings", "delete", "--org", "demo", "XDM44", check=False)
    assert refused.returncode == 1
    assert "published" in refused.stderr
    assert demo.cli("mappings", "delete", "--org", "demo", "BAD").stdout == "mapping BAD deleted\n"
    gone = demo.cli("mappings", "log", "--org", "demo", "BAD", check=False)
    assert (gone.returncode, gone.stderr) == (1, "error: XDMC-404 unknown mapping BAD\n")


def test_a_dataset_with_the_tenants_own_fields(demo: Installation, tmp_path: Path) -> None:
    custom = tmp_path / "custom.json"
    custom.write_text(
        '{"default": {"type": "object", "properties": {"cusBooleanField": {"type": "boolean"}}}}'
    )
    demo.cli(
        "datasets", "create", "--org", "demo", "--id", "custom",
        "--schema", "profile,identitymap", "--custom", str(custom),
    )  # fmt: skip
    dataset = orjson.loads(demo.cli("datasets", "get", "--org", "demo", "custom").stdout)
    tenant = dataset["schema"]["properties"]["_customer"]["properties"]["default"]
    assert tenant["properties"]["cusBooleanField"]["type"] == "boolean"
    custom.write_text("[1, 2]")
    refused = demo.cli(
        "datasets", "create", "--org", "demo", "--id", "other",
        "--schema", "profile", "--custom", str(custom), check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "must hold a JSON object" in refused.stderr


def test_cleaning_the_batches_a_dead_worker_left_in_the_lake(
    demo: Installation, tmp_path: Path
) -> None:
    lake = LakeTables(demo.lake)
    lost = lake.create_batch(
        org="demo", dataset="profiles", batch_key="lost", file_format="parquet"
    )
    part = tmp_path / "part.parquet"
    pq.write_table(pa.table({"_id": ["1"]}), part)
    lake.put_file(lost, "part-00000.parquet", part)
    staged = demo.lake / "_staging" / "demo" / "profiles" / lost
    # A worker killed while it exported a job the store does not know any more.
    orphan = demo.home / "work" / "job-4242-1"
    orphan.mkdir(parents=True)
    (orphan / "part-00000.parquet").write_bytes(b"PAR1")

    young = demo.cli("lake", "clean", "--older-than", "3600", "--json")
    assert young.stdout == "[]\n"
    assert young.stderr == (
        "0 loading batches aborted\n0 stray rewrite files removed\n"
        "1 work folder of ended jobs removed\n"
    )
    assert not orphan.exists()
    other_org = demo.cli("lake", "clean", "--older-than", "0", "--org", "acme")
    assert read_table(other_org.stdout).rows == []
    assert staged.is_dir()

    cleaned = demo.cli("lake", "clean", "--older-than", "0", "--org", "demo")
    table = read_table(cleaned.stdout)
    assert table.headers == ["ID", "ORG", "DATASET", "BATCH KEY", "LAST ACTIVITY"]
    [line] = table.rows
    assert line[:4] == [lost, "demo", "profiles", "lost"]
    assert cleaned.stderr == (
        "1 loading batch aborted\n0 stray rewrite files removed\n"
        "0 work folders of ended jobs removed\n"
    )
    assert not staged.exists()
    assert lake.status(lost).state == "aborted"

    refused = demo.cli("lake", "clean", "--org", "../demo", check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ")


def test_optimizing_and_vacuuming_a_table_of_the_lake(demo: Installation, tmp_path: Path) -> None:
    lake = LakeTables(demo.lake)
    for job in range(1, 4):
        batch_id = lake.create_batch(
            org="demo", dataset="upkeep", batch_key=f"demo-m-{job}", file_format="parquet"
        )
        part = tmp_path / f"{job}.parquet"
        pq.write_table(pa.table({"_id": [str(job)]}), part)
        lake.put_file(batch_id, "part-00000.parquet", part)
        lake.complete(batch_id)

    optimized = demo.cli("lake", "optimize", "--org", "demo", "--dataset", "upkeep", "--json")
    [done] = orjson.loads(optimized.stdout)
    assert done == {
        "org": "demo", "dataset": "upkeep", "operation": "optimize",
        "filesAdded": 1, "filesRemoved": 3, "version": 3,
    }  # fmt: skip
    refused = demo.cli("lake", "vacuum", "--retain-hours", "1", "--org", "demo", check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: XDMC-LAKE-RETENTION ")
    assert "--force" in refused.stderr
    vacuumed = demo.cli(
        "lake", "vacuum", "--retain-hours", "0", "--force", "--org", "demo", "--dataset", "upkeep"
    )
    table = read_table(vacuumed.stdout)
    assert table.headers == [
        "ORG", "DATASET", "OPERATION", "FILES ADDED", "FILES REMOVED", "VERSION"
    ]  # fmt: skip
    assert [row[:5] for row in table.rows] == [["demo", "upkeep", "vacuum", "0", "3"]]
    keys = lake_table(demo.lake, "demo", "upkeep")["_id"].to_pylist()
    assert sorted(keys) == ["1", "2", "3"]  # the rows, intact
    unnamed = demo.cli("lake", "optimize", "--dataset", "upkeep", check=False)
    assert unnamed.returncode == 1
    assert "--org" in unnamed.stderr
