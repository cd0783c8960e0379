"""The local platform service's protocol over HTTP: gateway, batches, large files, signals."""

from __future__ import annotations

import orjson
import pytest

from tests.integration.local_platform.conftest import CATALOG, IMPORT, IMS_ORG, LocalPlatform


def jsonl(*records: dict[str, object]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def profile(number: int, **extra: object) -> dict[str, object]:
    return {
        "_id": str(number),
        "personalEmail": {"address": f"p{number}@example.com"},
        "identityMap": {"Email": [{"id": f"p{number}@example.com", "primary": True}]},
        **extra,
    }


def new_batch(platform: LocalPlatform, file_format: str = "json", percentage: float = 0) -> str:
    body = {
        "datasetId": "profiles",
        "inputFormat": {"format": file_format},
        "enableErrorDiagnostics": True,
        "partialIngestionPercentage": percentage,
    }
    response = platform.call("POST", IMPORT, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "loading"
    assert created["relatedObjects"] == [{"type": "dataSet", "id": "profiles"}]
    return str(created["id"])


def file_url(batch_id: str, name: str) -> str:
    return f"{IMPORT}/{batch_id}/datasets/profiles/files/{name}"


@pytest.mark.parametrize(
    ("drop", "status", "code"),
    [
        ("Authorization", 401, "403010"),
        ("x-api-key", 403, "403000"),
        ("x-gw-ims-org-id", 400, "400003"),
        ("x-sandbox-name", 400, "400003"),
    ],
)
def test_each_missing_header_gets_the_gateway_answer(
    local_platform: LocalPlatform, drop: str, status: int, code: str
) -> None:
    headers = {k: v for k, v in local_platform.headers().items() if k != drop}
    response = local_platform.http.get(f"{CATALOG}/X", headers=headers)
    assert response.status_code == status
    assert response.json()["error_code"] == code


def test_a_bad_token_or_api_key_is_refused(local_platform: LocalPlatform) -> None:
    bad_token = local_platform.call("GET", f"{CATALOG}/X", headers={"Authorization": "Bearer no"})
    assert (bad_token.status_code, bad_token.json()) == (
        401,
        {"error_code": "401013", "message": "Oauth token is not valid"},
    )
    bad_key = local_platform.call("GET", f"{CATALOG}/X", headers={"x-api-key": "someone"})
    assert (bad_key.status_code, bad_key.json()["error_code"]) == (403, "403003")
    refused = local_platform.http.post(
        "/ims/token/v3", data={"client_id": local_platform.client_id, "client_secret": "wrong"}
    )
    assert refused.status_code == 401


def test_a_partly_invalid_batch_within_its_threshold_succeeds_and_keeps_its_failures(
    local_platform: LocalPlatform,
) -> None:
    batch_id = new_batch(local_platform, percentage=50)
    good = [profile(n) for n in range(3)]
    bad = profile(9, person={"gender": "robot"})
    body = jsonl(*good, bad)
    assert local_platform.call("PUT", file_url(batch_id, "part-0.jsonl"), content=body).is_success
    completed = local_platform.call("POST", f"{IMPORT}/{batch_id}", params={"action": "COMPLETE"})
    assert completed.status_code == 200
    batch = local_platform.wait_for(batch_id)
    assert batch["status"] == "success"
    assert batch["metrics"] == {
        "inputFileCount": 1,
        "inputByteSize": len(body),
        "inputRecordCount": 4,
        "outputRecordCount": 3,
        "failedRecordCount": 1,
    }
    assert batch["errors"] == [
        {
            "code": "INGEST-1212-400",
            "description": "Encountered 1 errors in the data. Successfully ingested 3 rows. "
            "Please review the associated diagnostic files for more details.",
        },
        {
            "code": "INGEST-1560-400",
            "description": "A value does not match its field's type, format or allowed values. "
            "Fix the value and try again.",
            "recordCount": 1,
        },
    ]
    assert batch["tags"] == {"acp_enableErrorDiagnostics": True, "acp_partialIngestionPercent": 50}
    failed = local_platform.call("GET", f"/data/foundation/export/batches/{batch_id}/failed")
    [refused] = [orjson.loads(line) for line in failed.content.splitlines()]
    assert refused["record"] == bad
    assert refused["_line"] == 4
    assert refused["_errors"][0]["message"].startswith("/person/gender: not one of")
    lake = local_platform.storage.lake("prod")
    [committed] = lake.committed_files(IMS_ORG, "profiles")
    assert [orjson.loads(line) for line in committed.read_bytes().splitlines()] == good
    # Signals repeat safely; a success cannot be aborted, only reverted.
    again = local_platform.call("POST", f"{IMPORT}/{batch_id}", params={"action": "COMPLETE"})
    assert again.status_code == 200
    abort = local_platform.call("POST", f"{IMPORT}/{batch_id}", params={"action": "ABORT"})
    assert abort.status_code == 409
    revert = local_platform.call("POST", f"{IMPORT}/{batch_id}", params={"action": "REVERT"})
    assert revert.status_code == 200
    assert local_platform.wait_for(batch_id)["status"] == "deleted"
    assert lake.committed_files(IMS_ORG, "profiles") == []


def test_a_batch_over_its_threshold_fails_and_commits_nothing(
    local_platform: LocalPlatform,
) -> None:
    batch_id = new_batch(local_platform, percentage=10)
    body = jsonl(profile(1), profile(2, person={"birthDate": "1990-02-30"}))
    local_platform.call("PUT", file_url(batch_id, "part-0.jsonl"), content=body)
    local_platform.call("POST", f"{IMPORT}/{batch_id}", params={"action": "COMPLETE"})
    batch = local_platform.wait_for(batch_id)
    assert batch["status"] == "failed"
    assert [(error["code"], error.get("recordCount")) for error in batch["errors"]] == [
        ("INGEST-1212-400", None),
        ("INGEST-1560-400", 1),
        ("INGEST-1213-400", None),
    ]
    assert "Successfully ingested 0 rows" in batch["errors"][0]["description"]
    assert batch["errors"][2]["description"] == (
        "1 of 2 rows (50.00%) failed validation: more than the partial ingestion threshold of 10%."
    )
    assert batch["metrics"]["failedRecordCount"] == 1
    assert local_platform.storage.lake("prod").committed_files(IMS_ORG, "profiles") == []


def test_files_cannot_be_added_once_complete_and_aborts_drop_them(
    local_platform: LocalPlatform,
) -> None:
    batch_id = new_batch(local_platform)
    local_platform.call("POST", f"{IMPORT}/{batch_id}", params={"action": "COMPLETE"})
    late = local_platform.call("PUT", file_url(batch_id, "late.jsonl"), content=jsonl(profile(1)))
    assert late.status_code == 409
    assert local_platform.wait_for(batch_id)["errors"][0]["code"] == "INGEST-1201-400"

    other = new_batch(local_platform)
    local_platform.call("PUT", file_url(other, "part-0.jsonl"), content=jsonl(profile(1)))
    local_platform.call("POST", f"{IMPORT}/{other}", params={"action": "ABORT"})
    assert local_platform.wait_for(other)["status"] == "aborted"
    assert not (local_platform.storage.batch_folder(other) / "files").exists()
    unknown = local_platform.call("POST", f"{IMPORT}/{other}", params={"action": "EXPLODE"})
    assert unknown.status_code == 400


def test_another_sandbox_does_not_see_the_batch(local_platform: LocalPlatform) -> None:
    batch_id = new_batch(local_platform)
    elsewhere = local_platform.http.get(
        f"{CATALOG}/{batch_id}", headers=local_platform.headers(sandbox="dev")
    )
    assert elsewhere.status_code == 404
    listed = local_platform.call("GET", CATALOG, params={"dataSet": "profiles"}).json()
    assert list(listed) == [batch_id]


def test_a_large_file_arrives_in_parts_that_may_not_overlap_or_miss(
    local_platform: LocalPlatform,
) -> None:
    batch_id = new_batch(local_platform)
    url = file_url(batch_id, "big/part-0.jsonl")
    content = jsonl(*(profile(n) for n in range(20)))
    total = len(content)
    half = total // 2

    def part(start: int, end: int) -> int:
        headers = {"Content-Range": f"bytes {start}-{end - 1}/{total}"}
        return local_platform.call(
            "PATCH", url, headers=headers, content=content[start:end]
        ).status_code

    assert local_platform.call("POST", url, params={"action": "INITIALIZE"}).status_code == 201
    assert part(half, total) == 200  # out of order is fine
    assert local_platform.call("HEAD", url).headers["content-length"] == str(total - half)
    assert local_platform.call("POST", url, params={"action": "COMPLETE"}).status_code == 400
    assert part(half - 10, half + 10) == 400  # overlaps the part received
    assert part(0, half) == 200
    assert part(0, half) == 200  # the same part again replaces itself
    assert local_platform.call("POST", url, params={"action": "COMPLETE"}).status_code == 201
    assert local_platform.call("HEAD", url).headers["content-length"] == str(total)
    local_platform.call("POST", f"{IMPORT}/{batch_id}", params={"action": "COMPLETE"})
    batch = local_platform.wait_for(batch_id)
    assert (batch["status"], batch["metrics"]["outputRecordCount"]) == ("success", 20)
