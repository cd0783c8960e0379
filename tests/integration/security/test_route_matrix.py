"""Every route of the OpenAPI document, called by every kind of caller.

Each route is classified (public, membership, or a role) and called with no token, a bad
token, a token of another organization, a token of the organization without the role, and
a valid one: 401, 401, 404, 403 (for a role) and neither 401, 403 nor 404. A new route
fails ``test_every_route_is_classified`` until it is added here.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi.testclient import TestClient

from tests.integration.security.conftest import DATASET_ID, MAPPING_ID, World, mapping_document
from xdm_connector.services.integrations import create_integration
from xdm_connector.services.organizations import create_group
from xdm_connector.services.webhooks import register_webhook
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store

PUBLIC = {("POST", "/ims/token/v3"), ("GET", "/health"), ("GET", "/ready")}
"""Routes of the document that need no token."""
UNDOCUMENTED_PUBLIC = ["/openapi.json", "/docs", "/redoc"]
"""Routes outside the document, public too."""

MEMBER, ADMINISTRATION, SQL = "member", "administration", "sql"
INGEST = "/{org}/campaign/dataIngestion/xdmIngestion/{mapping_id}/ingest"
MAPPINGS = "/{org}/campaign/dataIngestion/xdmMapping"
MAPPING = f"{MAPPINGS}/{{mapping_id}}"
DATASETS = "/{org}/campaign/dataIngestion/dataset"
GROUPS = "/{org}/campaign/securityGroup"
GROUP = f"{GROUPS}/{{group}}"
INTEGRATIONS = "/{org}/campaign/integration"
WEBHOOKS = "/{org}/campaign/webhooks"
WEBHOOK = f"{WEBHOOKS}/{{webhook_id}}"

ROUTES: dict[tuple[str, str], str] = {
    ("POST", INGEST): SQL,
    ("GET", INGEST): MEMBER,
    ("DELETE", INGEST): SQL,
    # Called after the DELETE above has cancelled the request: its stream tells the end.
    ("GET", f"{INGEST}/events"): MEMBER,
    ("GET", MAPPINGS): MEMBER,
    ("POST", MAPPINGS): ADMINISTRATION,
    ("GET", MAPPING): MEMBER,
    ("PATCH", MAPPING): ADMINISTRATION,
    ("DELETE", MAPPING): ADMINISTRATION,
    ("POST", f"{MAPPING}/publish"): ADMINISTRATION,
    ("POST", f"{MAPPING}/unpublish"): ADMINISTRATION,
    ("POST", f"{MAPPING}/start"): ADMINISTRATION,
    ("POST", f"{MAPPING}/stop"): ADMINISTRATION,
    ("GET", f"{MAPPING}/log"): MEMBER,
    ("GET", f"{MAPPING}/jobs"): MEMBER,
    ("GET", f"{MAPPING}/jobs/{{job_id}}"): MEMBER,
    ("GET", f"{MAPPING}/preview"): MEMBER,
    ("GET", DATASETS): MEMBER,
    ("POST", DATASETS): ADMINISTRATION,
    ("GET", f"{DATASETS}/{{dataset_id}}"): MEMBER,
    ("GET", "/{org}/campaign/roleBase"): MEMBER,
    ("GET", "/{org}/campaign/roleBase/{role_name}"): MEMBER,
    ("GET", GROUPS): MEMBER,
    ("POST", GROUPS): ADMINISTRATION,
    ("GET", GROUP): MEMBER,
    ("GET", f"{GROUP}/roles"): MEMBER,
    ("POST", f"{GROUP}/roles"): ADMINISTRATION,
    ("DELETE", f"{GROUP}/roles/{{role_name}}"): ADMINISTRATION,
    ("GET", INTEGRATIONS): ADMINISTRATION,
    ("POST", INTEGRATIONS): ADMINISTRATION,
    ("POST", f"{INTEGRATIONS}/{{client_id}}/rotate"): ADMINISTRATION,
    ("DELETE", f"{INTEGRATIONS}/{{client_id}}"): ADMINISTRATION,
    ("GET", "/{org}/campaign/auditTrail"): ADMINISTRATION,
    ("GET", WEBHOOKS): ADMINISTRATION,
    ("POST", WEBHOOKS): ADMINISTRATION,
    ("DELETE", WEBHOOK): ADMINISTRATION,
    ("POST", f"{WEBHOOK}/rotate"): ADMINISTRATION,
    ("GET", f"{WEBHOOK}/deliveries"): ADMINISTRATION,
}
"""Every route that needs a token: membership of the path's organization, or a role."""

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", MAPPINGS): mapping_document("XDM45"),
    ("PATCH", MAPPING): {"label": "Relabelled"},
    ("POST", f"{MAPPING}/publish"): {"start": False},
    ("POST", DATASETS): {"id": "more", "class": "profile"},
    ("POST", GROUPS): {"name": "Operators"},
    ("POST", f"{GROUP}/roles"): {"name": "sql", "label": "SQL function execution"},
    ("POST", INTEGRATIONS): {"name": "new", "groups": ["Standard Users"]},
    ("POST", WEBHOOKS): {"url": "http://127.0.0.1:9/hook", "events": ["job.ended"]},
}


def _routes(client: TestClient) -> set[tuple[str, str]]:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def _call(
    client: TestClient,
    method: str,
    url: str,
    headers: dict[str, str],
    query: dict[str, Any],
    body: dict[str, Any] | None,
) -> Any:
    return client.request(method, url, headers=headers, params=query, json=body)


def _normalised(answer: Any, values: dict[str, str], client_id: str) -> tuple[int, str]:
    """The answer with the ids of the path replaced by their names."""
    text = answer.text
    for key, value in sorted(
        {**values, "client_id": client_id}.items(), key=lambda kv: -len(kv[1])
    ):
        text = text.replace(value, f"<{key}>")
    return answer.status_code, text.replace("nowhere", "<org>")


def test_every_route_is_classified(client: TestClient) -> None:
    routes = _routes(client)
    assert routes - PUBLIC - set(ROUTES) == set(), "classify the new routes in ROUTES or PUBLIC"
    assert set(ROUTES) | PUBLIC == routes, "ROUTES names a route that is gone"


def test_public_routes_need_no_token(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200
    for path in UNDOCUMENTED_PUBLIC:
        assert client.get(path).status_code == 200, path
    refused = client.post("/ims/token/v3", data={"client_id": "x", "client_secret": "y"})
    assert refused.status_code == 401


def test_every_route_checks_token_organization_and_role(
    client: TestClient, store: Store, world: World, settings: Settings
) -> None:
    create_group(store, "acme", "Auditors")
    doomed = create_integration(store, "acme", groups=["Standard Users"], name="doomed")
    local = settings.model_copy(update={"webhook_allow_private": True})
    webhook, doomed_webhook = (
        register_webhook(
            store, local, "acme", url="http://127.0.0.1:9/", events=["job.ended"], actor="test"
        ).webhook.id
        for _ in range(2)
    )
    every = {
        "org": "acme",
        "mapping_id": MAPPING_ID,
        "dataset_id": DATASET_ID,
        "group": "Auditors",
        "role_name": "sql",
        "webhook_id": webhook,
    }
    forged = {"Authorization": "Bearer forged", "X-Api-Key": world.admin.client_id}
    callers = {
        "no token": ({}, 401, "403010"),
        "bad token": (forged, 401, "401013"),
        "other organization": (world.other_headers, 404, None),
    }
    for method, path in sorted(ROUTES, key=lambda route: (route[1], route[0])):
        need = ROUTES[method, path]
        client_id = doomed.client_id if method == "DELETE" else world.spare.client_id
        # A DELETE removes what it names: the later routes keep theirs.
        values = {**every, "webhook_id": doomed_webhook} if method == "DELETE" else every
        url = path.format(**values, client_id=client_id, job_id=world.request_id)
        query = {"requestId": world.request_id} if path.startswith(INGEST) else {}
        body = BODIES.get((method, path))

        call = partial(_call, client, method, url, query=query, body=body)
        foreigner = partial(
            _call, client, method, headers=world.other_headers, query=query, body=body
        )
        where = f"{method} {path}"
        for name, (headers, status, code) in callers.items():
            answer = call(headers)
            assert answer.status_code == status, (where, name, answer.text)
            assert code is None or answer.json()["error_code"] == code, (where, name)
        # Another organization's objects look exactly like missing ones: in an organization
        # that does not exist, and under ids that do not exist.
        foreign = _normalised(call(world.other_headers), values, client_id)
        nowhere = path.format(
            **{**values, "org": "nowhere"}, client_id=client_id, job_id=world.request_id
        )
        assert _normalised(foreigner(nowhere), values, client_id) == foreign
        made_up = {key: f"no-{key}" for key in values} | {"org": "acme"}
        unknown = path.format(**made_up, client_id="no-client", job_id=world.request_id)
        assert _normalised(foreigner(unknown), made_up, "no-client") == foreign

        without_role = call(world.reader_headers)
        if need == MEMBER:
            assert without_role.status_code not in (401, 403, 404), (where, without_role.text)
        else:
            assert without_role.status_code == 403, (where, without_role.text)
            assert without_role.json()["role"] == need

        valid = call(world.admin_headers)
        assert valid.status_code not in (401, 403, 404), (where, valid.text)
        assert valid.status_code < 500, (where, valid.text)
