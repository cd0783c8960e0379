"""JSON and Parquet as the platform reads them, over HTTP: a JSON Lines line holding an
array, multi-line JSON documents, Parquet with nested columns."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from tests.integration.local_platform.conftest import IMPORT, IMS_ORG, LocalPlatform
from tests.integration.local_platform.test_service_protocol import file_url, profile


def batch_of(platform: LocalPlatform, input_format: dict[str, Any], percentage: float = 0) -> str:
    body = {
        "datasetId": "profiles",
        "inputFormat": input_format,
        "enableErrorDiagnostics": True,
        "partialIngestionPercentage": percentage,
    }
    created = platform.call("POST", IMPORT, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["inputFormat"] == {"isMultiLineJson": False, **input_format}
    return str(created.json()["id"])


def ingest(platform: LocalPlatform, batch_id: str, files: dict[str, bytes]) -> dict[str, Any]:
    for name, content in files.items():
        sent = platform.call("PUT", file_url(batch_id, name), content=content)
        assert sent.status_code == 200, sent.text
    done = platform.call("POST", f"{IMPORT}/{batch_id}", params={"action": "COMPLETE"})
    assert done.status_code == 200, done.text
    return platform.wait_for(batch_id)


def committed(platform: LocalPlatform) -> list[dict[str, Any]]:
    files = platform.storage.lake("prod").committed_files(IMS_ORG, "profiles")
    return [orjson.loads(line) for path in files for line in path.read_bytes().splitlines()]


def failed_records(platform: LocalPlatform, batch_id: str) -> list[dict[str, Any]]:
    answer = platform.call("GET", f"/data/foundation/export/batches/{batch_id}/failed")
    assert answer.status_code == 200
    return [orjson.loads(line) for line in answer.content.splitlines()]


def test_a_json_lines_line_holding_an_array_gives_one_record_per_element(
    local_platform: LocalPlatform,
) -> None:
    batch_id = batch_of(local_platform, {"format": "json"}, percentage=50)
    content = (
        orjson.dumps([profile(1), profile(2)])
        + b"\n"
        + orjson.dumps(profile(3))
        + b"\n\n"
        + orjson.dumps([profile(4), 5])
        + b"\n"
    )
    batch = ingest(local_platform, batch_id, {"part-0.json": content})
    assert batch["status"] == "success", batch["errors"]
    assert batch["metrics"]["inputRecordCount"] == 5
    assert batch["metrics"]["outputRecordCount"] == 4
    assert committed(local_platform) == [profile(1), profile(2), profile(3), profile(4)]
    [refused] = failed_records(local_platform, batch_id)
    assert (refused["record"], refused["_line"]) == (5, 4)
    assert refused["_errors"] == [
        {"code": "1401-400", "message": "/: a record must be a JSON object"}
    ]


def test_multi_line_json_takes_one_pretty_printed_object_or_array_per_file(
    local_platform: LocalPlatform,
) -> None:
    batch_id = batch_of(local_platform, {"format": "json", "isMultiLineJson": True})
    pretty = orjson.OPT_INDENT_2
    batch = ingest(
        local_platform,
        batch_id,
        {
            "one.json": orjson.dumps(profile(1), option=pretty),
            "many.json": orjson.dumps([profile(2), profile(3)], option=pretty),
        },
    )
    assert batch["status"] == "success", batch["errors"]
    assert batch["metrics"]["outputRecordCount"] == 3
    assert sorted(committed(local_platform), key=lambda r: r["_id"]) == [
        profile(1),
        profile(2),
        profile(3),
    ]


def test_a_multi_line_file_that_is_not_one_document_is_one_corrupt_row(
    local_platform: LocalPlatform,
) -> None:
    batch_id = batch_of(local_platform, {"format": "json", "isMultiLineJson": True}, 50)
    two_documents = orjson.dumps(profile(1)) + b"\n" + orjson.dumps(profile(2))
    batch = ingest(
        local_platform,
        batch_id,
        {"good.json": orjson.dumps([profile(3)]), "lines.json": two_documents},
    )
    assert batch["status"] == "success"
    assert batch["metrics"] == {
        "inputFileCount": 2,
        "inputByteSize": len(orjson.dumps([profile(3)])) + len(two_documents),
        "inputRecordCount": 2,
        "outputRecordCount": 1,
        "failedRecordCount": 1,
    }
    assert [(e["code"], e.get("recordCount")) for e in batch["errors"]] == [
        ("INGEST-1212-400", None),
        ("INGEST-1401-400", 1),
    ]
    errors = local_platform.call(
        "GET",
        f"/data/foundation/export/batches/{batch_id}/meta",
        params={"path": "row_errors/parsing_errors_0.json"},
    )
    [row] = [orjson.loads(line) for line in errors.content.splitlines()]
    assert row == {
        "_corrupt_record": two_documents.decode(),
        "_errors": [
            {
                "code": "1401",
                "message": "Row is corrupted and cannot be read, please fix and resend.",
            }
        ],
        "_filename": "lines.json",
    }


def test_parquet_with_nested_columns_is_read_as_records(local_platform: LocalPlatform) -> None:
    identity = pa.struct([("id", pa.string()), ("primary", pa.bool_())])
    table = pa.table(
        {
            "_id": ["1", "2"],
            "person": pa.array(
                [{"name": {"firstName": "Ada", "lastName": "King"}}, None],
                type=pa.struct(
                    [("name", pa.struct([("firstName", pa.string()), ("lastName", pa.string())]))]
                ),
            ),
            "personalEmail": [{"address": "p1@example.com"}, {"address": "p2@example.com"}],
            "identityMap": pa.array(
                [
                    [("Email", [{"id": "p1@example.com", "primary": True}])],
                    [("Email", [{"id": "p2@example.com", "primary": True}])],
                ],
                type=pa.map_(pa.string(), pa.list_(identity)),
            ),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    batch_id = batch_of(local_platform, {"format": "parquet"})
    batch = ingest(local_platform, batch_id, {"part-0.parquet": sink.getvalue()})
    assert batch["status"] == "success", batch["errors"]
    assert committed(local_platform) == [
        profile(1, person={"name": {"firstName": "Ada", "lastName": "King"}}),
        profile(2),
    ]
