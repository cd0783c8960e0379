"""API clients of the local platform service bound to their IMS organization, over HTTP."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from tests.integration.local_platform.conftest import (
    CATALOG,
    IMS_ORG,
    LocalPlatform,
    running_platform,
)
from xdm_connector.cli import app
from xdm_connector.local_platform.storage import PlatformStorage

OTHER_ORG = "OTHER@AdobeOrg"
PROFILE_NOT_VALID = {"error_code": "403025", "message": "Profile is not valid"}


def headers_for(platform: LocalPlatform, client_id: str, secret: str, org: str) -> dict[str, str]:
    answer = platform.http.post(
        "/ims/token/v3", data={"client_id": client_id, "client_secret": secret}
    )
    assert answer.status_code == 200, answer.text
    return {
        "Authorization": f"Bearer {answer.json()['access_token']}",
        "x-api-key": client_id,
        "x-gw-ims-org-id": org,
        "x-sandbox-name": "prod",
    }


def test_a_token_of_one_organizations_client_is_refused_for_another(
    local_platform: LocalPlatform,
) -> None:
    own = local_platform.call("GET", "/data/foundation/catalog/dataSets/profiles")
    assert own.status_code == 200
    for path in (CATALOG, "/data/foundation/catalog/dataSets/profiles"):
        elsewhere = local_platform.call("GET", path, headers={"x-gw-ims-org-id": OTHER_ORG})
        assert (elsewhere.status_code, elsewhere.json()) == (403, PROFILE_NOT_VALID)


def test_each_organizations_client_calls_for_its_own_only(local_platform: LocalPlatform) -> None:
    other_id, other_secret = local_platform.storage.create_client("other", OTHER_ORG)
    for_other = headers_for(local_platform, other_id, other_secret, OTHER_ORG)
    listed = local_platform.http.get(CATALOG, headers=for_other)
    assert (listed.status_code, listed.json()) == (200, {})
    into_acme = local_platform.http.get(
        "/data/foundation/catalog/dataSets/profiles",
        headers={**for_other, "x-gw-ims-org-id": IMS_ORG},
    )
    assert (into_acme.status_code, into_acme.json()) == (403, PROFILE_NOT_VALID)


def test_a_missing_org_header_is_reported_before_the_binding(
    local_platform: LocalPlatform,
) -> None:
    headers = {k: v for k, v in local_platform.headers().items() if k != "x-gw-ims-org-id"}
    answer = local_platform.http.get(CATALOG, headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "400003"


def test_a_client_created_without_an_organization_calls_for_the_services_own(
    local_platform: LocalPlatform,
) -> None:
    client_id, secret = local_platform.storage.create_client("unbound")
    own = local_platform.http.get(
        CATALOG, headers=headers_for(local_platform, client_id, secret, IMS_ORG)
    )
    assert own.status_code == 200, own.text
    elsewhere = local_platform.http.get(
        CATALOG, headers=headers_for(local_platform, client_id, secret, OTHER_ORG)
    )
    assert (elsewhere.status_code, elsewhere.json()) == (403, PROFILE_NOT_VALID)


def test_a_service_for_any_organization_lets_an_unbound_client_call_for_any(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_platform(tmp_path / "home", monkeypatch, clients_org=None) as platform:
        client_id, secret = platform.storage.create_client("anywhere")
        for org in (IMS_ORG, OTHER_ORG):
            answer = platform.http.get(
                CATALOG, headers=headers_for(platform, client_id, secret, org)
            )
            assert answer.status_code == 200, answer.text
        # A client bound to its organization stays bound to it.
        elsewhere = platform.call("GET", CATALOG, headers={"x-gw-ims-org-id": OTHER_ORG})
        assert (elsewhere.status_code, elsewhere.json()) == (403, PROFILE_NOT_VALID)


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ([], "give --ims-org ORG"),
        (["--ims-org", OTHER_ORG, "--any-org"], "one of the two"),
        (["--ims-org", "../escape"], "IMS org"),
    ],
)
def test_the_service_starts_only_when_told_which_organization_its_clients_call_for(
    tmp_path: Path, options: list[str], said: str
) -> None:
    home = tmp_path / "platform-home"
    answer = CliRunner().invoke(
        app, ["platform", "serve", "--home", str(home), "--port", "1", *options]
    )
    assert answer.exit_code == 2
    assert said in answer.output
    assert not home.exists()


def test_the_command_line_binds_a_client_to_its_organization(tmp_path: Path) -> None:
    home = tmp_path / "platform-home"
    runner = CliRunner()
    answer = runner.invoke(
        app, ["platform", "clients", "create", "--ims-org", OTHER_ORG, "--home", str(home)]
    )
    assert answer.exit_code == 0, answer.output
    created = orjson.loads(answer.output)
    assert created["ims_org"] == OTHER_ORG
    client = PlatformStorage(home).client(created["client_id"])
    assert client is not None
    assert client.ims_org == OTHER_ORG
    assert created["client_secret"] not in (home / "clients.json").read_text()


@pytest.mark.parametrize("org", ["../escape", "a/b", ""])
def test_the_command_line_refuses_an_unsafe_organization(tmp_path: Path, org: str) -> None:
    home = tmp_path / "platform-home"
    answer = CliRunner().invoke(
        app, ["platform", "clients", "create", "--ims-org", org, "--home", str(home)]
    )
    assert answer.exit_code == 1
    assert "IMS org" in answer.output
    assert not (home / "clients.json").exists()
