"""Tokens, API keys and roles on the ingestion API."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from xdm_connector.security.credentials import digest
from xdm_connector.services.integrations import NewIntegration, create_integration
from xdm_connector.services.organizations import create_organization, grant_role
from xdm_connector.store.models import utcnow
from xdm_connector.store.store import Store

INGEST = "/acme/campaign/dataIngestion/xdmIngestion/XDM1/ingest"


def integration(store: Store, *, sql: bool) -> NewIntegration:
    create_organization(store, "acme", "sqlite:///nowhere.db")
    if sql:
        grant_role(store, "acme", "Administrators", "sql")
    return create_integration(store, "acme", groups=["Administrators"])


def token(client: TestClient, credentials: NewIntegration) -> str:
    response = client.post(
        "/ims/token/v3",
        data={
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "grant_type": "client_credentials",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 24 * 3600
    access_token: str = body["access_token"]
    return access_token


def test_the_token_endpoint(client: TestClient, store: Store) -> None:
    credentials = integration(store, sql=True)
    issued = token(client, credentials)
    assert store.tenants.principal_for_token(digest(issued), utcnow()) is not None
    refused = client.post(
        "/ims/token/v3",
        data={"client_id": credentials.client_id, "client_secret": "wrong"},
    )
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "401013"
    unknown = client.post("/ims/token/v3", data={"client_id": "nobody", "client_secret": "x"})
    assert unknown.status_code == 401
    grant = client.post(
        "/ims/token/v3",
        data={**credentials.__dict__, "grant_type": "password"},
    )
    assert grant.status_code == 400
    missing = client.post("/ims/token/v3", data={})
    assert missing.status_code == 400


def test_secrets_and_tokens_are_stored_hashed(client: TestClient, store: Store) -> None:
    credentials = integration(store, sql=True)
    issued = token(client, credentials)
    stored = store.tenants.get_integration(credentials.client_id)
    assert stored is not None
    assert credentials.client_secret not in stored.secret_hash
    assert stored.secret_hash == digest(credentials.client_secret)
    assert store.tenants.principal_for_token(issued, utcnow()) is None


def test_every_call_needs_a_valid_token_and_its_api_key(client: TestClient, store: Store) -> None:
    credentials = integration(store, sql=True)
    issued = token(client, credentials)
    cases = [
        ({}, "403010"),
        ({"Authorization": f"Bearer {issued}"}, "403000"),
        ({"Authorization": "Bearer forged", "X-Api-Key": credentials.client_id}, "401013"),
        ({"Authorization": f"Basic {issued}", "X-Api-Key": credentials.client_id}, "401013"),
        ({"Authorization": f"Bearer {issued}", "X-Api-Key": "someone-else"}, "403003"),
    ]
    for headers, code in cases:
        for method in ("POST", "GET"):
            response = client.request(method, f"{INGEST}?requestId=1", headers=headers)
            assert response.status_code == 401, (headers, method)
            assert response.json()["error_code"] == code


def test_an_expired_token_is_refused(client: TestClient, store: Store) -> None:
    credentials = integration(store, sql=True)
    expired = "expired-token"
    store.tenants.add_token(digest(expired), credentials.client_id, utcnow() - timedelta(seconds=1))
    response = client.post(
        INGEST, headers={"Authorization": f"Bearer {expired}", "X-Api-Key": credentials.client_id}
    )
    assert response.status_code == 401
    assert response.json() == {"error_code": "401013", "message": "Oauth token is not valid"}


def test_triggering_needs_the_sql_role(client: TestClient, store: Store) -> None:
    credentials = integration(store, sql=False)
    headers = {
        "Authorization": f"Bearer {token(client, credentials)}",
        "X-Api-Key": credentials.client_id,
    }
    refused = client.post(INGEST, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["role"] == "sql"
    assert "SQL function execution" in refused.json()["message"]
    # Reading a status needs membership only: an unknown mapping is a 404, not a 403.
    assert client.get(f"{INGEST}?requestId=1", headers=headers).status_code == 404
    grant_role(store, "acme", "Administrators", "sql")
    assert client.post(INGEST, headers=headers).status_code == 404


def test_health_ready_and_openapi(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    paths = client.get("/openapi.json").json()["paths"]
    assert "/{org}/campaign/dataIngestion/xdmIngestion/{mapping_id}/ingest" in paths
    assert "/ims/token/v3" in paths


def test_the_documentation_pages_need_nothing_but_the_server(client: TestClient) -> None:
    """/docs and /redoc load their scripts and styles from the server, not from a CDN."""
    import re

    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert assets, page
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
            loaded = client.get(asset)
            assert loaded.status_code == 200, asset
            assert len(loaded.content) > 0
    assert "/docs-assets/swagger-ui-bundle.js" in client.get("/docs").text
    assert "/docs" not in client.get("/openapi.json").json()["paths"]
