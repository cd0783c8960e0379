"""Error diagnostics as the platform serves them, over HTTP: the catalog's ``errors`` and
``metrics``, the row error files at ``/meta?path=row_errors``, the failed records."""

from __future__ import annotations

from typing import Any

import orjson

from tests.integration.local_platform.conftest import IMPORT, LocalPlatform
from tests.integration.local_platform.test_client_organizations import OTHER_ORG
from tests.integration.local_platform.test_service_protocol import file_url, jsonl, profile

EXPORT = "/data/foundation/export/batches"
CORRUPT = "Row is corrupted and cannot be read, please fix and resend."


def send(platform: LocalPlatform, body: dict[str, Any], content: bytes) -> str:
    created = platform.call("POST", IMPORT, json={"datasetId": "profiles", **body})
    assert created.status_code == 201, created.text
    batch_id = str(created.json()["id"])
    assert platform.call("PUT", file_url(batch_id, "part-0.json"), content=content).is_success
    platform.call("POST", f"{IMPORT}/{batch_id}", params={"action": "COMPLETE"})
    return batch_id


def meta(platform: LocalPlatform, batch_id: str, path: str) -> Any:
    return platform.call("GET", f"{EXPORT}/{batch_id}/meta", params={"path": path})


CONTENT = (
    jsonl(profile(1), profile(2), profile(3, person={"gender": "robot"}))
    + b"{not json\n"
    + jsonl({"personalEmail": {"address": "nobody@example.com"}})
)


def test_a_diagnosed_batch_lists_its_row_errors_then_serves_each_file(
    local_platform: LocalPlatform,
) -> None:
    body = {
        "inputFormat": {"format": "json"},
        "enableErrorDiagnostics": True,
        "partialIngestionPercent": 80,  # the spelling of the platform's partial ingestion page
    }
    batch_id = send(local_platform, body, CONTENT)
    batch = local_platform.wait_for(batch_id)
    assert batch["status"] == "success"
    assert batch["tags"] == {"acp_enableErrorDiagnostics": True, "acp_partialIngestionPercent": 80}
    assert batch["metrics"] == {
        "inputFileCount": 1,
        "inputByteSize": len(CONTENT),
        "inputRecordCount": 5,
        "outputRecordCount": 2,
        "failedRecordCount": 3,
    }
    assert batch["errors"] == [
        {
            "code": "INGEST-1212-400",
            "description": "Encountered 3 errors in the data. Successfully ingested 2 rows. "
            "Please review the associated diagnostic files for more details.",
        },
        {
            "code": "INGEST-1401-400",
            "description": "The row has corrupted data and cannot be read or parsed. "
            "Fix the corrupted data and try again.",
            "recordCount": 1,
        },
        {
            "code": "INGEST-1560-400",
            "description": "A value does not match its field's type, format or allowed values. "
            "Fix the value and try again.",
            "recordCount": 2,
        },
    ]

    listing = meta(local_platform, batch_id, "row_errors")
    assert listing.status_code == 200
    documents = listing.json()
    assert documents["_page"] == {"limit": 100, "count": 2}
    names = [entry["name"] for entry in documents["data"]]
    assert names == ["conversion_errors_0.json", "parsing_errors_0.json"]
    files: dict[str, list[dict[str, Any]]] = {}
    for entry in documents["data"]:
        href = entry["_links"]["self"]["href"]
        assert href == (
            f"{local_platform.url}{EXPORT}/{batch_id}/meta?path=row_errors%2F{entry['name']}"
        )
        answer = local_platform.http.get(href, headers=local_platform.headers())
        assert answer.status_code == 200
        assert entry["length"] == str(len(answer.content))
        files[entry["name"]] = [orjson.loads(line) for line in answer.content.splitlines()]

    assert files["parsing_errors_0.json"] == [
        {
            "_corrupt_record": "{not json",
            "_errors": [{"code": "1401", "message": CORRUPT}],
            "_filename": "part-0.json",
        }
    ]
    gender, missing = files["conversion_errors_0.json"]
    assert gender["_id"] == "3"
    assert gender["person"] == {"gender": "robot"}
    assert gender["_filename"] == "part-0.json"
    [problem] = gender["_errors"]
    assert (problem["column"], problem["code"]) == ("/person/gender", "1560")
    assert problem["message"].startswith("not one of")
    assert missing["_errors"] == [
        {
            "column": "/identityMap",
            "code": "1560",
            "message": 'a profile record needs an identity with "primary": true',
        }
    ]
    # The failed records, as before, hold every refused record with its line.
    failed = local_platform.call("GET", f"{EXPORT}/{batch_id}/failed")
    lines = [orjson.loads(line)["_line"] for line in failed.content.splitlines()]
    assert lines == [3, 4, 5]


def test_a_batch_without_diagnostics_says_so_and_lists_no_row_errors(
    local_platform: LocalPlatform,
) -> None:
    batch_id = send(local_platform, {"inputFormat": {"format": "json"}}, CONTENT)
    batch = local_platform.wait_for(batch_id)
    assert batch["status"] == "failed"  # without diagnostics, no partial ingestion
    assert batch["tags"] == {}
    assert batch["errors"] == [
        {
            "code": "INGEST-1211-400",
            "description": "Encountered errors while parsing, converting or otherwise "
            "validating the data. Please resend the data with error diagnostics enabled to "
            "collect additional information on failure types",
        }
    ]
    assert batch["metrics"]["failedRecordCount"] == 3
    listing = meta(local_platform, batch_id, "row_errors")
    assert listing.json() == {"data": [], "_page": {"limit": 100, "count": 0}}


def test_meta_answers_404_for_an_unknown_path_or_another_organizations_batch(
    local_platform: LocalPlatform,
) -> None:
    body = {"inputFormat": {"format": "json"}, "enableErrorDiagnostics": True}
    batch_id = send(local_platform, body, CONTENT)
    local_platform.wait_for(batch_id)
    for path in ("row_errors/nothing.json", "input_files", "row_errors/../batch.json"):
        assert meta(local_platform, batch_id, path).status_code == 404, path
    assert meta(local_platform, "NO-SUCH-BATCH", "row_errors").status_code == 404
    other_id, other_secret = local_platform.storage.create_client("other", OTHER_ORG)
    token = local_platform.http.post(
        "/ims/token/v3", data={"client_id": other_id, "client_secret": other_secret}
    ).json()["access_token"]
    elsewhere = local_platform.http.get(
        f"{EXPORT}/{batch_id}/meta",
        params={"path": "row_errors"},
        headers={
            "Authorization": f"Bearer {token}",
            "x-api-key": other_id,
            "x-gw-ims-org-id": OTHER_ORG,
            "x-sandbox-name": "prod",
        },
    )
    assert elsewhere.status_code == 404
