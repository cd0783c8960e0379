"""The platform client against a scripted platform (``httpx.MockTransport``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from xdm_connector.destinations.aep.answers import PlatformError
from xdm_connector.destinations.aep.destination import PlatformDestination
from xdm_connector.destinations.aep.ims import ImsTokens
from xdm_connector.destinations.base import BatchState, BatchStatus
from xdm_connector.destinations.config import PlatformConfig, parse_destination
from xdm_connector.errors import DestinationError
from xdm_connector.retry import RetryPolicy

SECRET = "s3cr3t-value-never-logged"
TOKEN = "token-never-logged"
IMPORT = "/data/foundation/import/batches"


@dataclass
class ScriptedPlatform:
    """Answers like the platform; ``script`` answers a path's next calls first."""

    requests: list[httpx.Request] = field(default_factory=list)
    script: dict[str, list[httpx.Response]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    tokens_issued: int = 0
    batch: dict[str, object] = field(default_factory=lambda: {"status": "loading"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        path = request.url.path
        scripted = self.script.get(path)
        if scripted:
            return scripted.pop(0)
        if path == "/ims/token/v3":
            self.tokens_issued += 1
            return httpx.Response(200, json={"access_token": TOKEN, "expires_in": 86400})
        if path == IMPORT:
            return httpx.Response(201, json={"id": "B1", "status": "loading"})
        if "/files/" in path:
            name = path.rsplit("/", 1)[1]
            if request.method == "PUT":
                self.uploads[name] = request.content
            elif request.method == "PATCH":
                self.uploads[name] = self.uploads.get(name, b"") + request.content
            return httpx.Response(200)
        if path.startswith("/data/foundation/catalog/batches/"):
            return httpx.Response(200, json={"B1": self.batch})
        return httpx.Response(200)

    def calls(self) -> list[str]:
        return [
            f"{r.method} {r.url.path}" + (f"?{r.url.query.decode()}" if r.url.query else "")
            for r in self.requests
        ]


CONFIG = {
    "type": "platform",
    "imsUrl": "https://ims.example",
    "platformUrl": "https://platform.example",
    "clientId": "client-1",
    "clientSecret": "${TEST_PLATFORM_SECRET}",
    "imsOrgId": "ACME@AdobeOrg",
    "sandbox": "prod",
    "datasetIds": {"profiles": "ds-42"},
}


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> ScriptedPlatform:
    monkeypatch.setenv("TEST_PLATFORM_SECRET", SECRET)
    return ScriptedPlatform()


@pytest.fixture
def destination(platform: ScriptedPlatform) -> Iterator[PlatformDestination]:
    config = parse_destination(CONFIG)
    assert isinstance(config, PlatformConfig)
    made = PlatformDestination(
        config,
        policy=RetryPolicy(attempts=3, sleep=lambda _s: None),
        large_file_bytes=100,
        part_bytes=40,
        transport=httpx.MockTransport(platform),
    )
    yield made
    made.close()


def a_file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / f"part-{size}.parquet"
    path.write_bytes(bytes(range(256)) * (size // 256) + bytes(range(size % 256)))
    return path


def test_a_batch_goes_through_the_protocol_with_the_four_headers(
    destination: PlatformDestination, platform: ScriptedPlatform, tmp_path: Path
) -> None:
    batch_id = destination.create_batch(
        org="acme", dataset="profiles", batch_key="k", file_format="jsonl"
    )
    destination.put_file(batch_id, "part-00000.jsonl", a_file(tmp_path, 50))
    destination.complete(batch_id)
    assert platform.calls() == [
        "POST /ims/token/v3",
        f"POST {IMPORT}",
        f"PUT {IMPORT}/B1/datasets/ds-42/files/part-00000.jsonl",
        f"POST {IMPORT}/B1?action=COMPLETE",
    ]
    token_request, create, put, _ = platform.requests
    assert parse_qs(token_request.content.decode()) == {
        "client_id": ["client-1"],
        "client_secret": [SECRET],
        "grant_type": ["client_credentials"],
    }
    for request in platform.requests[1:]:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["x-api-key"] == "client-1"
        assert request.headers["x-gw-ims-org-id"] == "ACME@AdobeOrg"
        assert request.headers["x-sandbox-name"] == "prod"
    assert create.read() == (
        b'{"datasetId":"ds-42","inputFormat":{"format":"json","isMultiLineJson":false},'
        b'"enableErrorDiagnostics":true,"partialIngestionPercentage":5}'
    )
    assert put.headers["content-type"] == "application/octet-stream"
    assert platform.uploads["part-00000.jsonl"] == a_file(tmp_path, 50).read_bytes()
    assert platform.tokens_issued == 1


def test_a_file_over_the_threshold_goes_in_ranged_parts(
    destination: PlatformDestination, platform: ScriptedPlatform, tmp_path: Path
) -> None:
    batch_id = destination.create_batch(
        org="acme", dataset="profiles", batch_key="k", file_format="parquet"
    )
    big = a_file(tmp_path, 101)
    destination.put_file(batch_id, "part-00000.parquet", big)
    url = f"{IMPORT}/B1/datasets/ds-42/files/part-00000.parquet"
    assert platform.calls()[2:] == [
        f"POST {url}?action=INITIALIZE",
        f"PATCH {url}",
        f"PATCH {url}",
        f"PATCH {url}",
        f"POST {url}?action=COMPLETE",
    ]
    ranges = [r.headers["content-range"] for r in platform.requests if r.method == "PATCH"]
    assert ranges == ["bytes 0-39/101", "bytes 40-79/101", "bytes 80-100/101"]
    assert platform.uploads["part-00000.parquet"] == big.read_bytes()


def test_transient_answers_are_retried_and_terminal_ones_fail_with_the_batch_id(
    destination: PlatformDestination, platform: ScriptedPlatform, tmp_path: Path
) -> None:
    batch_id = destination.create_batch(
        org="acme", dataset="profiles", batch_key="k", file_format="parquet"
    )
    url = f"{IMPORT}/B1/datasets/ds-42/files/part-00000.parquet"
    platform.script[url] = [
        httpx.Response(503, json={"message": "busy"}),
        httpx.Response(429, headers={"Retry-After": "0"}),
    ]
    destination.put_file(batch_id, "part-00000.parquet", a_file(tmp_path, 10))
    assert platform.calls().count(f"PUT {url}") == 3

    platform.script[url] = [httpx.Response(400, json={"title": "Bad", "detail": "no such file"})]
    with pytest.raises(DestinationError) as raised:
        destination.put_file(batch_id, "part-00000.parquet", a_file(tmp_path, 10))
    assert (raised.value.batch_id, raised.value.transient) == ("B1", False)
    assert "400" in raised.value.message
    assert "no such file" in raised.value.message


def test_a_refused_token_is_asked_for_again(
    destination: PlatformDestination, platform: ScriptedPlatform
) -> None:
    platform.script[IMPORT] = [
        httpx.Response(401, json={"error_code": "401013", "message": "Oauth token is not valid"})
    ]
    assert (
        destination.create_batch(
            org="acme", dataset="profiles", batch_key="k", file_format="parquet"
        )
        == "B1"
    )
    assert platform.tokens_issued == 2


def test_refused_credentials_fail_without_showing_the_secret(
    destination: PlatformDestination,
    platform: ScriptedPlatform,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    platform.script["/ims/token/v3"] = [httpx.Response(401, json={"error": "invalid_client"})]
    with pytest.raises(DestinationError) as raised:
        destination.create_batch(org="acme", dataset="profiles", batch_key="k", file_format="jsonl")
    assert not raised.value.transient
    assert SECRET not in str(raised.value)
    assert SECRET not in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        ({"status": "loading"}, BatchStatus(BatchState.LOADING)),
        ({"status": "staging"}, BatchStatus(BatchState.PROCESSING)),
        (
            {
                "status": "success",
                "metrics": {"inputRecordCount": 519, "outputRecordCount": 514},
                "errors": [
                    {
                        "code": "INGEST-1212-400",
                        "description": "Encountered 5 errors.",
                        "recordCount": 5,
                    }
                ],
            },
            BatchStatus(
                BatchState.SUCCESS,
                records=514,
                errors=[
                    {
                        "code": "INGEST-1212-400",
                        "description": "Encountered 5 errors.",
                        "recordCount": 5,
                    }
                ],
            ),
        ),
        (
            {
                "status": "failed",
                "errors": [
                    {"code": "INGEST-1211-400", "message": "Too many", "rows": [{"line": 3}]},
                    "not an object",
                    {"code": "INGEST-1212-400", "description": "x" * 5000},
                ],
            },
            BatchStatus(
                BatchState.FAILED,
                errors=[
                    {"code": "INGEST-1211-400", "message": "Too many", "description": "Too many"},
                    {"code": "INGEST-1212-400", "description": "x" * 2000},
                ],
            ),
        ),
        ({"status": "aborted"}, BatchStatus(BatchState.ABORTED)),
        ({"status": "something new"}, BatchStatus(BatchState.UNKNOWN)),
    ],
)
def test_catalog_statuses_map_onto_batch_states(
    destination: PlatformDestination,
    platform: ScriptedPlatform,
    batch: dict[str, object],
    expected: BatchStatus,
) -> None:
    platform.batch = batch
    assert destination.status("B1") == expected


def test_an_unknown_batch_is_unknown(
    destination: PlatformDestination, platform: ScriptedPlatform
) -> None:
    platform.script["/data/foundation/catalog/batches/B9"] = [
        httpx.Response(404, json={"title": "Not Found"})
    ]
    assert destination.status("B9") == BatchStatus(BatchState.UNKNOWN)


def test_abort_signals_the_platform(
    destination: PlatformDestination, platform: ScriptedPlatform
) -> None:
    destination.abort("B1")
    assert platform.calls()[-1] == f"POST {IMPORT}/B1?action=ABORT"


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_token_is_renewed_before_it_expires(platform: ScriptedPlatform) -> None:
    clock = Clock()
    answer: Callable[[], str] = lambda: SECRET  # noqa: E731
    with httpx.Client(transport=httpx.MockTransport(platform)) as client:
        tokens = ImsTokens(
            client, "https://ims.example", "client-1", answer, RetryPolicy(), clock=clock
        )
        tokens.token()
        clock.now = 86400 - 301  # more than five minutes left: kept
        tokens.token()
        assert platform.tokens_issued == 1
        clock.now = 86400 - 299  # less than five minutes left: renewed
        tokens.token()
        assert platform.tokens_issued == 2


HYGIENE = "/data/core/hygiene/workorder"


def a_work_order(work_order_id: str, status: str, **more: object) -> dict[str, object]:
    return {"workorderId": work_order_id, "action": "identity-delete", "status": status, **more}


def test_a_work_order_is_created_with_the_documented_body(
    destination: PlatformDestination, platform: ScriptedPlatform
) -> None:
    platform.script[HYGIENE] = [httpx.Response(200, json=a_work_order("DI-1", "received"))]
    order = destination.order_deletes(
        dataset="profiles", namespace="Email", ids=["a@x.com", "b@x.com"], name="deletes 1"
    )
    assert (order.id, order.status, order.ended) == ("DI-1", "received", False)
    create = platform.requests[-1]
    assert f"{create.method} {create.url.path}" == f"POST {HYGIENE}"
    assert create.headers["x-sandbox-name"] == "prod"
    assert create.headers["content-type"] == "application/json"
    body = orjson.loads(create.content)
    assert body == {
        "displayName": "deletes 1",
        "description": "Records deleted at the source of the dataset 'profiles'",
        "action": "delete-identity",
        "datasetId": "ds-42",
        "namespacesIdentities": [{"namespace": {"code": "Email"}, "IDs": ["a@x.com", "b@x.com"]}],
    }


def test_a_work_order_takes_at_most_the_documented_identities(
    destination: PlatformDestination, platform: ScriptedPlatform
) -> None:
    assert destination.max_identities == 100_000
    too_many = [f"{n}@x.com" for n in range(100_001)]
    with pytest.raises(ValueError, match="not 100001"):
        destination.order_deletes(dataset="profiles", namespace="Email", ids=too_many, name="n")
    with pytest.raises(ValueError, match="not 0"):
        destination.order_deletes(dataset="profiles", namespace="Email", ids=[], name="n")
    assert platform.requests == []


def test_a_work_orders_status_and_why_it_failed(
    destination: PlatformDestination, platform: ScriptedPlatform
) -> None:
    failed = a_work_order(
        "DI-2",
        "failed",
        productStatusDetails=[
            {"productName": "Data Management", "productStatus": "success"},
            {"productName": "Profile Service", "productStatus": "failed", "message": "locked"},
        ],
    )
    platform.script[f"{HYGIENE}/DI-2"] = [
        httpx.Response(503),  # retried by the policy, as every call
        httpx.Response(200, json=a_work_order("DI-2", "processing")),
        httpx.Response(200, json=failed),
    ]
    assert destination.deletes_status("DI-2").status == "processing"
    order = destination.deletes_status("DI-2")
    assert (order.ended, order.failed) == (True, True)
    assert order.reason == "Profile Service: failed (locked)"


def test_work_orders_are_found_by_their_display_name(
    destination: PlatformDestination, platform: ScriptedPlatform
) -> None:
    listed = [
        a_work_order("DI-3", "completed", displayName="deletes 3"),
        a_work_order("DI-4", "received", displayName="deletes 30"),
    ]
    platform.script[HYGIENE] = [httpx.Response(200, json={"results": listed, "total": 2})]
    assert [order.id for order in destination.deletes_named("deletes 3")] == ["DI-3"]
    assert platform.calls()[-1] == f"GET {HYGIENE}?search=deletes+3&limit=100&page=0"


def test_the_work_order_list_is_read_page_after_page_until_its_total(
    destination: PlatformDestination, platform: ScriptedPlatform
) -> None:
    first = [a_work_order(f"DI-{n}", "failed", displayName="deletes 3") for n in range(100)]
    last = [a_work_order("DI-100", "completed", displayName="deletes 3")]
    platform.script[HYGIENE] = [
        httpx.Response(200, json={"results": first, "total": 101, "count": 100}),
        httpx.Response(200, json={"results": last, "total": 101, "count": 1}),
    ]
    found = destination.deletes_named("deletes 3")
    assert [order.id for order in found][-2:] == ["DI-99", "DI-100"]
    assert [call.rsplit("&", 1)[1] for call in platform.calls() if HYGIENE in call] == [
        "page=0",
        "page=1",
    ]


def test_a_refused_work_order_is_a_terminal_error_with_the_platforms_words(
    destination: PlatformDestination, platform: ScriptedPlatform
) -> None:
    refusal = {"type": "...", "title": "Bad Request", "status": 400, "detail": "unknown namespace"}
    platform.script[HYGIENE] = [httpx.Response(400, json=refusal)]
    with pytest.raises(PlatformError) as raised:
        destination.order_deletes(dataset="profiles", namespace="Nope", ids=["1"], name="n")
    assert (raised.value.status_code, raised.value.transient) == (400, False)
    assert "unknown namespace" in raised.value.message
    assert [call for call in platform.calls() if call.endswith(HYGIENE)] == [f"POST {HYGIENE}"]


def test_an_answer_without_a_work_order_id_is_an_error(
    destination: PlatformDestination, platform: ScriptedPlatform
) -> None:
    platform.script[HYGIENE] = [httpx.Response(200, json={"status": "received"})]
    with pytest.raises(PlatformError, match="workorderId"):
        destination.order_deletes(dataset="profiles", namespace="Email", ids=["1"], name="n")
