"""Roles and security groups over REST: the original's grant, and the audit trail."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.integration.security.conftest import MAPPING_ID, World, mapping_document
from xdm_connector.security.audit import audit_trail
from xdm_connector.store.store import Store

CAMPAIGN = "/acme/campaign"
ROLES = f"{CAMPAIGN}/securityGroup/Standard Users/roles"
INGEST = f"{CAMPAIGN}/dataIngestion/xdmIngestion/{MAPPING_ID}/ingest"


def test_role_base_answers_the_role_objects(client: TestClient, world: World) -> None:
    sql = client.get(f"{CAMPAIGN}/roleBase/sql", headers=world.reader_headers)
    assert sql.status_code == 200
    assert sql.json() == {
        "name": "sql",
        "label": "SQL function execution",
        "href": "http://testserver/acme/campaign/roleBase/sql",
    }
    administration = client.get(f"{CAMPAIGN}/roleBase/administration", headers=world.reader_headers)
    assert administration.json()["label"] == "Administration"
    unknown = client.get(f"{CAMPAIGN}/roleBase/root", headers=world.reader_headers)
    assert unknown.status_code == 404
    assert unknown.json() == {"error_code": "XDMC-404", "message": "unknown role root"}
    listed = client.get(f"{CAMPAIGN}/roleBase", headers=world.reader_headers).json()
    assert [role["name"] for role in listed["content"]] == ["administration", "sql"]


def test_the_original_grant_lets_a_group_trigger(client: TestClient, world: World) -> None:
    refused = client.post(INGEST, headers=world.reader_headers)
    assert refused.status_code == 403
    assert refused.json()["role"] == "sql"
    assert "SQL function execution" in refused.json()["message"]

    role = client.get(f"{CAMPAIGN}/roleBase/sql", headers=world.admin_headers).json()
    for _ in range(2):  # granting again changes nothing
        granted = client.post(ROLES, json=role, headers=world.admin_headers)
        assert granted.status_code == 200, granted.text
        assert granted.json() == role
    roles = client.get(ROLES, headers=world.reader_headers).json()
    assert roles == {"content": [role], "count": {"value": 1}}
    assert client.post(INGEST, headers=world.reader_headers).status_code == 200

    for _ in range(2):  # revoking again changes nothing
        revoked = client.delete(f"{ROLES}/sql", headers=world.admin_headers)
        assert revoked.status_code == 204
    assert client.get(ROLES, headers=world.reader_headers).json()["count"] == {"value": 0}
    assert client.post(INGEST, headers=world.reader_headers).status_code == 403


def test_grants_need_a_known_role_and_group(client: TestClient, world: World) -> None:
    headers = world.admin_headers
    bare = client.post(ROLES, json={"name": "sql"}, headers=headers)
    assert bare.status_code == 200
    unknown_role = client.post(ROLES, json={"name": "root"}, headers=headers)
    assert unknown_role.status_code == 400
    assert "unknown role 'root'" in unknown_role.json()["message"]
    assert client.delete(f"{ROLES}/root", headers=headers).status_code == 404
    no_name = client.post(ROLES, json={"label": "SQL function execution"}, headers=headers)
    assert no_name.status_code == 400
    missing = client.post(
        f"{CAMPAIGN}/securityGroup/Operators/roles", json={"name": "sql"}, headers=headers
    )
    assert missing.status_code == 404
    assert missing.json()["message"] == "unknown security group Operators"


def test_custom_groups(client: TestClient, world: World) -> None:
    headers = world.admin_headers
    created = client.post(f"{CAMPAIGN}/securityGroup", json={"name": "Operators"}, headers=headers)
    assert created.status_code == 201
    assert created.json() == {"name": "Operators", "roles": []}
    again = client.post(f"{CAMPAIGN}/securityGroup", json={"name": "Operators"}, headers=headers)
    assert again.status_code == 409
    bad = client.post(f"{CAMPAIGN}/securityGroup", json={"name": "a/b"}, headers=headers)
    assert bad.status_code == 400
    client.post(f"{CAMPAIGN}/securityGroup/Operators/roles", json={"name": "sql"}, headers=headers)
    groups = client.get(f"{CAMPAIGN}/securityGroup", headers=world.reader_headers).json()
    assert groups["content"] == [
        {"name": "Administrators", "roles": ["administration", "sql"]},
        {"name": "Operators", "roles": ["sql"]},
        {"name": "Standard Users", "roles": []},
    ]
    page = client.get(f"{CAMPAIGN}/securityGroup?_lineCount=1", headers=headers).json()
    assert page["count"] == {"value": 3}
    assert "_lineStart=1" in page["next"]["href"]
    one = client.get(f"{CAMPAIGN}/securityGroup/Operators", headers=world.reader_headers)
    assert one.json() == {"name": "Operators", "roles": ["sql"]}
    # another organization's groups are not there
    other = client.get("/globex/campaign/securityGroup", headers=world.admin_headers)
    assert other.status_code == 404


def test_the_audit_trail_records_who_did_what(
    client: TestClient, store: Store, world: World
) -> None:
    admin = world.admin_headers
    mapping = f"{CAMPAIGN}/dataIngestion/xdmMapping/{MAPPING_ID}"
    client.post(ROLES, json={"name": "sql"}, headers=admin)
    client.post(ROLES, json={"name": "sql"}, headers=admin)  # no change: no entry
    client.delete(f"{ROLES}/sql", headers=admin)
    assert client.post(f"{mapping}/publish", json={"start": True}, headers=admin).status_code == 200
    assert client.post(f"{mapping}/stop", headers=admin).status_code == 200
    assert client.post(f"{mapping}/start", headers=admin).status_code == 200
    assert client.post(f"{mapping}/stop", headers=admin).status_code == 200
    assert client.post(f"{mapping}/start", headers=world.reader_headers).status_code == 403
    trigger = client.post(INGEST, headers=admin).json()  # already in progress: no entry
    assert trigger["status"] == "In Progress"
    rotated = client.post(
        f"{CAMPAIGN}/integration/{world.spare.client_id}/rotate", headers=admin
    ).json()

    trail = client.get(f"{CAMPAIGN}/auditTrail", headers=admin)
    assert trail.status_code == 200
    entries = [entry for entry in trail.json()["content"] if entry["actor"] != "operator"]
    assert [(entry["action"], entry["target"]) for entry in entries] == [
        ("integration.rotate", world.spare.client_id),
        ("stop", MAPPING_ID),
        ("start", MAPPING_ID),
        ("stop", MAPPING_ID),
        ("publish", MAPPING_ID),
        ("revoke", "Standard Users"),
        ("grant", "Standard Users"),
    ]
    assert {entry["actor"] for entry in entries} == {world.admin.client_id}
    assert entries[-1]["details"] == {"role": "sql"}
    assert entries[4]["details"] == {"start": True}
    assert rotated["clientSecret"] not in trail.text
    everything = trail.json()["count"]["value"]
    page = client.get(f"{CAMPAIGN}/auditTrail?_lineCount=2&_lineStart=1", headers=admin).json()
    assert page["count"] == {"value": everything}
    assert [entry["id"] for entry in page["content"]] == [entries[1]["id"], entries[2]["id"]]
    assert "_lineStart=3" in page["next"]["href"]
    trail_view = audit_trail(store, "acme")
    assert len(trail_view) == everything
    assert trail_view[0].id == entries[0]["id"]
    assert trail_view[-1].action == "grant"
    assert [record.id for record in trail_view] == [
        entry["id"] for entry in trail.json()["content"]
    ]
    grants = client.get(f"{CAMPAIGN}/auditTrail?action=grant", headers=admin).json()
    assert [entry["action"] for entry in grants["content"]] == ["grant", "grant"]
    # the set-up's grant of sql to Administrators was made by the operator
    assert grants["content"][-1]["actor"] == "operator"
    assert client.get(f"{CAMPAIGN}/auditTrail", headers=world.reader_headers).status_code == 403
    assert client.get("/globex/campaign/auditTrail", headers=admin).status_code == 404


def test_created_requests_and_mapping_changes_are_audited(
    client: TestClient, store: Store, world: World
) -> None:
    admin = world.admin_headers
    mappings = f"{CAMPAIGN}/dataIngestion/xdmMapping"
    document = mapping_document("XDM46")
    assert client.post(mappings, json=document, headers=admin).status_code == 201
    published = client.post(f"{mappings}/XDM46/publish", json={"start": False}, headers=admin)
    assert published.status_code == 200
    answer = client.post(f"{CAMPAIGN}/dataIngestion/xdmIngestion/XDM46/ingest", headers=admin)
    assert answer.json()["status"] == "Success"
    assert client.patch(f"{mappings}/XDM46", json={"id": "other"}, headers=admin).status_code == 400
    dataset = client.post(
        f"{CAMPAIGN}/dataIngestion/dataset", json={"id": "more", "class": "profile"}, headers=admin
    )
    assert dataset.status_code == 201

    entries = [
        (entry.action, entry.target, entry.details)
        for entry in audit_trail(store, "acme")
        if entry.actor == world.admin.client_id
    ]
    assert entries == [
        ("dataset.create", "more", {}),
        ("trigger", "XDM46", {"requestId": answer.json()["requestId"]}),
        ("publish", "XDM46", {"start": False}),
        ("mapping.create", "XDM46", {}),
    ]
