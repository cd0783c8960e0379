"""The connector delivering to the local platform service: two real processes over HTTP.

The platform service runs as ``xdm-connector platform serve`` with failure injection on;
the connector as ``xdm-connector serve`` with its worker, the demo organization's
destination pointing at the service. Files above 100 kB take the large-file protocol:
the demo's Parquet file (about 40 kB) does not, its JSON Lines file (about 360 kB) does.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.conftest import (
    Client,
    Installation,
    ReservedPort,
    catalog_batch,
    demo_credentials,
    token_for,
    wait_until_listening,
)
from tests.integration.local_platform.checks import assert_valid_xdm, lake_records
from xdm_connector.demo.setup import DEMO_SCHEMA
from xdm_connector.store.store import Store

IMS_ORG = "E2E@AdobeOrg"
PROFILES = 500
SECRET_VARIABLE = "XDMC_E2E_PLATFORM_SECRET"
UPLOAD_FAILED = "ACP-880096 Sync Job failed to upload. Please check the error in the Platform UI."

PREPARE_DEMO = """
import sys
from xdm_connector.demo.setup import prepare_demo
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store

settings = Settings()
settings.home.mkdir(parents=True, exist_ok=True)
store = Store(settings.store_url)
store.upgrade()
prepare_demo(settings, store, profiles=int(sys.argv[1]))
store.close()
"""


@dataclass
class PlatformInstallation(Installation):
    """A demo installation with a local platform service."""

    platform: ReservedPort = field(default_factory=ReservedPort)
    destination: dict[str, Any] = field(default_factory=dict)
    reader: dict[str, str] = field(default_factory=dict)

    @property
    def platform_url(self) -> str:
        return self.platform.url

    @property
    def platform_home(self) -> Path:
        return self.home / "platform"

    def serve_platform(self) -> None:
        home = str(self.platform_home)
        process = self.start(
            "platform",
            "serve",
            "--home",
            home,
            "--ims-org",
            IMS_ORG,
            "--faults",
            serving=self.platform,
        )
        who = "xdm-connector platform service"
        wait_until_listening(process, self.log_of(process), who, self.platform_url)

    def stop(self) -> None:
        super().stop()
        self.platform.close()

    def platform_cli(self, *args: str) -> Any:
        answer = self.cli("platform", *args, "--home", str(self.platform_home))
        return orjson.loads(answer.stdout)

    def platform_client(self, name: str) -> dict[str, str]:
        """A client of the service bound to ``IMS_ORG``: its id and secret."""
        created = self.platform_cli("clients", "create", "--name", name, "--ims-org", IMS_ORG)
        assert created["ims_org"] == IMS_ORG
        return {"client_id": created["client_id"], "client_secret": created["client_secret"]}

    def set_destination(self, **changes: Any) -> None:
        self.destination = {**self.destination, **changes}
        self.cli("orgs", "set-destination", "demo", orjson.dumps(self.destination).decode())

    def fault(self, **document: Any) -> None:
        response = httpx.post(f"{self.platform_url}/_local/faults", json=document, timeout=10)
        assert response.status_code == 201, response.text

    def touch_every_profile(self) -> None:
        """Make every source record newer than the watermark: the next job exports all."""
        with sqlite3.connect(self.home / "demo-source.db") as source:
            source.execute("update profile set lastModified = '2031-01-01 00:00:00.000000'")


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[PlatformInstallation]:
    installed = PlatformInstallation(home=tmp_path / "home", database_url=None)
    installed.home.mkdir()
    try:
        subprocess.run(
            [sys.executable, "-c", PREPARE_DEMO, str(PROFILES)],
            env=installed.env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        credentials = installed.platform_client("connector")
        installed.reader = installed.platform_client("reader")
        installed.platform_cli(
            "datasets",
            "create",
            "--ims-org",
            IMS_ORG,
            "--id",
            "profiles",
            "--schema",
            ",".join(DEMO_SCHEMA),
        )
        installed.extra = {
            SECRET_VARIABLE: credentials["client_secret"],
            "XDMC_RETRY_BASE_SECONDS": "0.05",
            "XDMC_PLATFORM_LARGE_FILE_BYTES": "100000",
            "XDMC_PLATFORM_PART_BYTES": "65536",
        }
        installed.set_destination(
            type="platform",
            imsUrl=installed.platform_url,
            platformUrl=installed.platform_url,
            clientId=credentials["client_id"],
            clientSecret="${" + SECRET_VARIABLE + "}",
            imsOrgId=IMS_ORG,
            sandbox="prod",
            fileFormat="parquet",
        )
        installed.serve_platform()
        installed.serve()
        yield installed
    finally:
        installed.stop()


def platform_batch(
    installation: PlatformInstallation, batch_id: str, ims_org: str = IMS_ORG
) -> dict[str, Any]:
    """The batch as the service's catalog shows it, read with a client of the service."""
    return catalog_batch(installation.platform_url, installation.reader, batch_id, ims_org)


def parts_sent(installation: PlatformInstallation) -> int:
    """The ranged parts counted by the pass-through ``PATCH`` fault the test armed."""
    pending = httpx.get(f"{installation.platform_url}/_local/faults", timeout=10).json()
    return 100_000 - next(f["left"] for f in pending if f.get("method") == "PATCH")


def run(installation: PlatformInstallation, client: Client) -> dict[str, Any]:
    triggered = client.trigger("XDM44")
    assert triggered.status_code == 200, triggered.text
    return client.wait_until_done("XDM44", triggered.json()["requestId"])


def test_parquet_and_json_lines_batches_arrive_valid_small_and_large(
    installation: PlatformInstallation,
) -> None:
    client = token_for(installation.base_url, demo_credentials(installation))
    installation.fault(method="PATCH", path="/files/", times=100_000)  # counts, lets through

    done = run(installation, client)
    assert (done["status"], done["numRecords"]) == ("Success", PROFILES), installation.logs()
    batch = platform_batch(installation, done["batchId"])
    assert (batch["status"], batch["inputFormat"]["format"]) == ("success", "parquet")
    assert batch["metrics"]["outputRecordCount"] == PROFILES
    assert parts_sent(installation) == 0

    installation.set_destination(fileFormat="json")
    installation.touch_every_profile()
    done = run(installation, client)
    assert (done["status"], done["numRecords"]) == ("Success", PROFILES), installation.logs()
    batch = platform_batch(installation, done["batchId"])
    assert (batch["status"], batch["inputFormat"]["format"]) == ("success", "json")
    assert parts_sent(installation) > 1

    lake = installation.platform_home / "lake" / "prod" / IMS_ORG / "profiles"
    records = lake_records(lake)
    assert len(records) == 2 * PROFILES
    assert_valid_xdm(records)

    # The clients are bound to their IMS organization: another one is refused.
    with pytest.raises(AssertionError, match="403025"):
        platform_batch(installation, done["batchId"], ims_org="OTHER@AdobeOrg")


def test_platform_failures_become_retries_or_a_failed_request(
    installation: PlatformInstallation,
) -> None:
    client = token_for(installation.base_url, demo_credentials(installation))

    installation.fault(kind="tamper", field="/person/gender", value="robot", every=2)
    triggered = client.trigger("XDM44")
    request_id = triggered.json()["requestId"]
    failed = client.wait_until_done("XDM44", request_id)
    assert failed["batchId"]
    answer = client.status("XDM44", request_id)
    assert (
        answer.content
        == json.dumps(
            {
                "batchId": failed["batchId"],
                "info": f"Mapping Id: XDM44. {UPLOAD_FAILED}",
                "numRecords": 0,
                "requestId": request_id,
                "status": "Failed",
            }
        ).encode()
    )
    assert platform_batch(installation, failed["batchId"])["status"] == "failed"
    store = Store(f"sqlite:///{installation.home / 'metadata.db'}")
    try:
        details = store.jobs.get("demo", "XDM44", request_id).details
    finally:
        store.close()
    assert details is not None
    assert details["error"] == (
        f"the platform refused {PROFILES // 2} of the {PROFILES} records of batch "
        f"{failed['batchId']} (50.00 %), more than its partial ingestion allows: the batch "
        "failed and nothing of it was kept"
    )
    job_url = f"{client.base_url}/demo/campaign/dataIngestion/xdmMapping/XDM44/jobs/{request_id}"
    detail = httpx.get(job_url, headers=client.headers, timeout=30).json()
    counts = ("recordsRead", "recordsIngested", "recordsRejected", "recordsRefused")
    assert [detail[name] for name in counts] == [PROFILES, 0, 0, PROFILES // 2]
    assert {sample["rejectedBy"] for sample in detail["rejectedSamples"]} == {"platform"}
    assert len(detail["rejectedSamples"]) == 20
    assert detail["destinationErrors"] == details["destinationErrors"]
    assert [(error["code"], error.get("recordCount")) for error in detail["destinationErrors"]] == [
        ("INGEST-1212-400", None),
        ("INGEST-1560-400", PROFILES // 2),
        ("INGEST-1213-400", None),
    ]
    assert {key for error in detail["destinationErrors"] for key in error} == {
        "code",
        "description",
        "recordCount",
    }

    installation.fault(method="POST", path="/import/batches$", status=429, retryAfter=1)
    installation.fault(method="PUT", path="/files/", status=503, times=2)
    started = time.monotonic()
    done = run(installation, client)
    assert (done["status"], done["numRecords"]) == ("Success", PROFILES), installation.logs()
    assert time.monotonic() - started >= 1.0
    assert httpx.get(f"{installation.platform_url}/_local/faults", timeout=10).json() == []
