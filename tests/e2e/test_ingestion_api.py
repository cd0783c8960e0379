"""The ingestion trigger API, end to end: real server and worker processes, over HTTP.

Every body is compared byte for byte with ``spec/ingestion-api.md``.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import httpx
import polars

from tests.e2e.conftest import Installation, demo_credentials, token_for
from tests.lake import lake_table
from tests.tables import read_table

DEMO_PROFILES = 10_000


def body_bytes(response: httpx.Response) -> bytes:
    return response.content


def exact(document: dict[str, object]) -> bytes:
    """A body as the contract writes it: ``{"key": value, ...}`` in the given order."""
    return json.dumps(document).encode()


def lake_count(lake: Path, org: str, dataset: str) -> int:
    return int(lake_table(lake, org, dataset).num_rows)


def test_trigger_follow_and_read_the_lake(installation: Installation) -> None:
    installation.serve(worker=False)
    client = token_for(installation.base_url, demo_credentials(installation))

    first = client.trigger("XDM44")
    assert first.status_code == 200
    request_id = first.json()["requestId"]
    assert isinstance(request_id, int)
    assert body_bytes(first) == exact(
        {
            "requestId": request_id,
            "info": "Ingestion request submitted successfully for the Mapping ID: XDM44",
            "status": "Success",
        }
    )

    second = client.trigger("XDM44")
    assert second.status_code == 200
    assert body_bytes(second) == exact(
        {
            "requestId": request_id,
            "info": "Ingestion request already in progress for the Mapping ID: XDM44",
            "status": "In Progress",
        }
    )
    waiting = client.status("XDM44", request_id)
    assert body_bytes(waiting) == exact(
        {
            "batchId": "",
            "info": "Mapping Id: XDM44.",
            "numRecords": 0,
            "requestId": request_id,
            "status": "In Progress",
        }
    )

    installation.start("worker")
    done = client.wait_until_done("XDM44", request_id)
    assert done["status"] == "Success", installation.logs()
    assert done["numRecords"] == DEMO_PROFILES
    assert done["batchId"]
    final = client.status("XDM44", request_id)
    assert body_bytes(final) == exact(
        {
            "batchId": done["batchId"],
            "info": "Mapping Id: XDM44. ",
            "numRecords": DEMO_PROFILES,
            "requestId": request_id,
            "status": "Success",
        }
    )
    # The requestId may also come as a JSON body on the GET, as the original documented.
    by_body = httpx.request(
        "GET",
        client.ingest_url("XDM44"),
        headers=client.headers,
        content=json.dumps({"requestId": request_id}),
        timeout=30,
    )
    assert body_bytes(by_body) == body_bytes(final)

    assert lake_count(installation.lake, "demo", "profiles") == DEMO_PROFILES
    # polars reads the same table on its own (its Delta reader): exactly those records.
    frame = polars.read_delta(str(installation.lake / "demo" / "profiles"))
    assert frame.height == frame["_id"].n_unique() == done["numRecords"]
    reader = duckdb.connect()
    reader.register("profiles", lake_table(installation.lake, "demo", "profiles"))
    nested = reader.sql(
        "select person.name.firstName, personalEmail.address, identityMap['Email'][1].id,"
        " identityMap['Email'][1].primary, _repo.modifyDate::varchar"
        " from profiles where _id = '1'"
    ).fetchall()
    assert len(nested) == 1
    first_name, email, identity, primary, modified = nested[0]
    assert first_name
    assert email
    assert identity == email
    assert primary is True
    assert modified is not None

    # Nothing changed since: the next request exports nothing, incrementally.
    again = client.trigger("XDM44").json()
    assert again["status"] == "Success"
    settled = client.wait_until_done("XDM44", again["requestId"])
    assert settled["status"] == "Success"
    assert settled["numRecords"] == 0
    assert lake_count(installation.lake, "demo", "profiles") == DEMO_PROFILES

    # The operator's view of the same jobs: newest first, the counts right-aligned.
    jobs = read_table(installation.cli("mappings", "jobs", "--org", "demo", "XDM44").stdout)
    assert [
        (row["ID"], row["STATUS"], row["READ"], row["INGESTED"], row["BATCH ID"])
        for row in jobs.records()
    ] == [
        (str(again["requestId"]), "Success", "0", "0", settled["batchId"]),
        (str(request_id), "Success", str(DEMO_PROFILES), str(DEMO_PROFILES), done["batchId"]),
    ]
    assert jobs.aligned_right("READ")
    assert jobs.aligned_right("INGESTED")
    assert jobs.aligned_left("BATCH ID")


def test_fifty_simultaneous_triggers_create_one_request(installation: Installation) -> None:
    installation.serve(worker=False)
    client = token_for(installation.base_url, demo_credentials(installation))
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda _: client.trigger("XDM44"), range(50)))
    assert all(answer.status_code == 200 for answer in answers)
    bodies = [answer.json() for answer in answers]
    created = [body for body in bodies if body["status"] == "Success"]
    assert len(created) == 1
    request_id = created[0]["requestId"]
    assert {body["requestId"] for body in bodies} == {request_id}
    assert sum(body["status"] == "In Progress" for body in bodies) == 49


def test_refusals_and_unknowns(installation: Installation) -> None:
    installation.serve(worker=False)
    client = token_for(installation.base_url, demo_credentials(installation))

    installation.cli("mappings", "start", "--org", "demo", "XDM44")
    started = client.trigger("XDM44")
    assert started.status_code == 409
    assert body_bytes(started) == exact(
        {
            "info": "Unable to submit data ingestion request, XDM Mapping ID: XDM44 is not stopped",
            "status": "Failed",
        }
    )
    installation.cli("mappings", "unpublish", "--org", "demo", "XDM44")
    draft = client.trigger("XDM44")
    assert draft.status_code == 409
    assert body_bytes(draft) == exact(
        {
            "info": "Unable to submit data ingestion request, XDM Mapping ID: XDM44 is not published",
            "status": "Failed",
        }
    )

    unknown_mapping = client.trigger("XDM99")
    assert unknown_mapping.status_code == 404
    assert unknown_mapping.json() == {
        "info": "Unable to submit data ingestion request, XDM Mapping ID: XDM99 does not exist",
        "status": "Failed",
    }
    unknown_request = client.status("XDM44", 424242)
    assert unknown_request.status_code == 404
    assert unknown_request.json()["status"] == "Failed"
    assert unknown_request.json()["requestId"] == 424242
    missing_request_id = httpx.get(client.ingest_url("XDM44"), headers=client.headers)
    assert missing_request_id.status_code == 400

    no_token = httpx.post(client.ingest_url("XDM44"))
    assert no_token.status_code == 401
    assert no_token.json()["error_code"] == "403010"
    bad_token = httpx.post(
        client.ingest_url("XDM44"),
        headers={"Authorization": "Bearer nope", "X-Api-Key": client.client_id},
    )
    assert bad_token.status_code == 401
    assert bad_token.json() == {"error_code": "401013", "message": "Oauth token is not valid"}
    no_key = httpx.post(
        client.ingest_url("XDM44"), headers={"Authorization": f"Bearer {client.token}"}
    )
    assert no_key.status_code == 401
    assert no_key.json()["error_code"] == "403000"
    wrong_secret = httpx.post(
        f"{installation.base_url}/ims/token/v3",
        data={
            "client_id": client.client_id,
            "client_secret": "x",
            "grant_type": "client_credentials",
        },
    )
    assert wrong_secret.status_code == 401


def test_another_organization_sees_nothing(installation: Installation) -> None:
    installation.cli("orgs", "create", "acme", "--source-url", "sqlite:///nowhere.db")
    installation.cli(
        "groups", "grant", "--org", "acme", "--group", "Administrators", "--role", "sql"
    )
    created = installation.cli(
        "integrations", "create", "--org", "acme", "--group", "Administrators"
    )
    installation.serve(worker=False)
    outsider = token_for(installation.base_url, json.loads(created.stdout))
    demo = token_for(installation.base_url, demo_credentials(installation))
    request_id = demo.trigger("XDM44").json()["requestId"]

    foreign_trigger = httpx.post(demo.ingest_url("XDM44"), headers=outsider.headers)
    assert foreign_trigger.status_code == 404
    assert foreign_trigger.content == outsider.trigger("XDM99", org="acme").content.replace(
        b"XDM99", b"XDM44"
    )
    foreign_status = httpx.get(
        demo.ingest_url("XDM44"), params={"requestId": request_id}, headers=outsider.headers
    )
    assert foreign_status.status_code == 404


def test_source_and_destination_failures(installation: Installation, tmp_path: Path) -> None:
    broken_source = tmp_path / "broken-source.db"
    shutil.copy(installation.home / "demo-source.db", broken_source)
    installation.cli("orgs", "create", "broken", "--source-url", f"sqlite:///{broken_source}")
    installation.cli(
        "groups", "grant", "--org", "broken", "--group", "Administrators", "--role", "sql"
    )
    credentials = json.loads(
        installation.cli(
            "integrations", "create", "--org", "broken", "--group", "Administrators"
        ).stdout
    )
    installation.cli(
        "datasets",
        "create",
        "--org",
        "broken",
        "--id",
        "profiles",
        "--schema",
        "profile,profile-person-details,profile-personal-details,profile-preferences-details,identitymap,campaign/address",
    )
    mapping_file = tmp_path / "mapping.yaml"
    mapping_file.write_text(
        (Path(__file__).parents[2] / "src/xdm_connector/demo/XDM44.yaml").read_text()
    )
    installation.cli("mappings", "apply", "--org", "broken", str(mapping_file))
    installation.cli("mappings", "publish", "--org", "broken", "XDM44", "--no-start")
    broken_source.unlink()

    # The demo's dataset folder is taken by a file: the lake cannot commit a batch there.
    blocked_source = (
        mapping_file.read_text()
        .replace("id: XDM44", "id: XDM45")
        .replace("dataset: profiles", "dataset: blocked")
    )
    mapping_file.write_text(blocked_source)
    installation.cli(
        "datasets",
        "create",
        "--org",
        "demo",
        "--id",
        "blocked",
        "--schema",
        "profile,profile-person-details,profile-personal-details,profile-preferences-details,identitymap,campaign/address",
    )
    installation.cli("mappings", "apply", "--org", "demo", str(mapping_file))
    installation.cli("mappings", "publish", "--org", "demo", "XDM45", "--no-start")
    (installation.lake / "demo").mkdir(parents=True, exist_ok=True)
    (installation.lake / "demo" / "blocked").write_text("not a folder")

    installation.serve()
    broken = token_for(installation.base_url, credentials)
    request_id = broken.trigger("XDM44", org="broken").json()["requestId"]
    failed = broken.wait_until_done("XDM44", request_id, org="broken")
    assert broken.status("XDM44", request_id, org="broken").content == exact(
        {
            "batchId": "",
            "info": "Mapping Id: XDM44. ACP-880056 Failed to fetch the record from the database.",
            "numRecords": 0,
            "requestId": request_id,
            "status": "Failed",
        }
    ), failed

    demo = token_for(installation.base_url, demo_credentials(installation))
    request_id = demo.trigger("XDM45").json()["requestId"]
    failed = demo.wait_until_done("XDM45", request_id)
    assert failed["batchId"], failed
    assert demo.status("XDM45", request_id).content == exact(
        {
            "batchId": failed["batchId"],
            "info": "Mapping Id: XDM45. ACP-880096 Sync Job failed to upload. Please check the error in the Platform UI.",
            "numRecords": 0,
            "requestId": request_id,
            "status": "Failed",
        }
    )
    # Nothing of the failed batch is visible, and the mapping can run again.
    assert not list((installation.lake / "demo").glob("blocked/**/*.parquet"))
    retried = demo.trigger("XDM45").json()
    assert retried["status"] == "Success"
    assert retried["requestId"] != request_id
