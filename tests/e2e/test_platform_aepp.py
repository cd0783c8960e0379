"""Adobe's community client, ``aepp``, against ``platform serve``: unchanged but for its
endpoint configuration (the platform's URL and the IMS token endpoint), through a batch
with a small file sent as a list of records and a large file sent in parts, then read back
from the catalog."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aepp
import orjson
import pytest
from aepp import catalog, ingestion

from tests.e2e.conftest import Installation, ReservedPort, wait_until_listening
from tests.integration.local_platform.checks import lake_records
from xdm_connector.demo.setup import DEMO_SCHEMA

IMS_ORG = "AEPP@AdobeOrg"
WHO = "xdm-connector platform service"


def profile(number: int) -> dict[str, Any]:
    return {
        "_id": str(number),
        "personalEmail": {"address": f"p{number}@example.com"},
        "identityMap": {"Email": [{"id": f"p{number}@example.com", "primary": True}]},
    }


@pytest.fixture
def aepp_configuration() -> Iterator[None]:
    """aepp's module-wide configuration, restored after the test (aepp keeps it in dicts
    that its classes took as default arguments: they are changed in place, not replaced)."""
    kept = {name: copy.deepcopy(getattr(aepp.config, name)) for name in AEPP_SETTINGS}
    yield
    for name, value in kept.items():
        current = getattr(aepp.config, name)
        current.clear()
        current.update(value)


AEPP_SETTINGS = ("config_object", "header", "endpoints")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """``platform serve`` for ``IMS_ORG`` with a client and the demo's dataset ``profiles``."""
    installation = Installation(home=tmp_path, database_url=None)
    home = str(tmp_path / "platform")
    port = ReservedPort()
    try:
        created = installation.cli("platform", "clients", "create", "--home", home)
        client = orjson.loads(created.stdout)
        schema = ",".join(DEMO_SCHEMA)
        installation.cli(
            "platform", "datasets", "create", "--ims-org", IMS_ORG, "--id", "profiles",
            "--schema", schema, "--home", home,
        )  # fmt: skip
        process = installation.start(
            "platform", "serve", "--home", home, "--ims-org", IMS_ORG, serving=port
        )
        wait_until_listening(process, installation.log_of(process), WHO, port.url)
        yield port.url, client, tmp_path / "platform"
    finally:
        installation.stop()
        port.close()


def deprecated(call: Callable[..., Any], *args: Any) -> Any:
    """What one of aepp's calls it marks deprecated answers (its warning checked)."""
    with pytest.warns(DeprecationWarning, match=f"{call.__name__} is deprecated"):
        return call(*args)


def test_aepp_sends_a_batch_of_small_and_large_files_and_reads_it_back(
    aepp_configuration: None, service: tuple[str, dict[str, str], Path]
) -> None:
    url, client, home = service
    aepp.configure(
        org_id=IMS_ORG,
        client_id=client["client_id"],
        secret=client["client_secret"],
        scopes="openid,AdobeID,read_organizations",
        sandbox="prod",
    )
    # Its endpoint configuration, and nothing else: the platform and IMS at the service.
    aepp.config.endpoints["global"] = url
    aepp.config.config_object["imsEndpoint"] = url
    aepp.config.config_object["oauthTokenEndpointV2"] = f"{url}/ims/token/v3"

    importer = ingestion.DataIngestion()
    created = importer.createBatch(datasetId="profiles", format="json", enableDiagnostic=True)
    batch_id = created["id"]
    assert created["status"] == "loading"
    assert created["imsOrg"] == IMS_ORG  # the client, created without one, is bound to it

    small = importer.uploadSmallFile(
        batchId=batch_id,
        datasetId="profiles",
        filePath="small.json",
        data=[profile(1), profile(2), profile(3)],  # sent as one line holding an array
    )
    assert small == {}

    large = b"".join(orjson.dumps(profile(n)) + b"\n" for n in range(4, 11))
    half = len(large) // 2
    path = "large/part-0.json"
    started = deprecated(importer.uploadLargeFileStartEnd, batch_id, "profiles", path, "INITIALIZE")
    parts = [
        deprecated(
            importer.uploadLargeFilePart,
            batch_id,
            "profiles",
            path,
            large[start:end],
            f"bytes {start}-{end - 1}/{len(large)}",
        )
        for start, end in ((half, len(large)), (0, half))
    ]
    ended = deprecated(importer.uploadLargeFileStartEnd, batch_id, "profiles", path, "COMPLETE")
    assert (started, parts, ended) == ({}, [{}, {}], {})

    assert importer.uploadSmallFileFinish(batchId=batch_id) == {}

    reader = catalog.Catalog()
    deadline = time.monotonic() + 60
    batch = reader.getBatch(batch_id)[batch_id]
    while batch["status"] in ("loading", "processing"):
        assert time.monotonic() < deadline, f"batch {batch_id} still {batch['status']}"
        time.sleep(0.1)
        batch = reader.getBatch(batch_id)[batch_id]
    assert batch["status"] == "success", batch["errors"]
    assert batch["errors"] == []
    assert batch["metrics"]["inputFileCount"] == 2
    assert batch["metrics"]["inputRecordCount"] == batch["metrics"]["outputRecordCount"] == 10
    assert batch["metrics"]["failedRecordCount"] == 0
    records = lake_records(home / "lake" / "prod" / IMS_ORG / "profiles")
    assert sorted(records, key=lambda record: int(record["_id"])) == [
        profile(n) for n in range(1, 11)
    ]
