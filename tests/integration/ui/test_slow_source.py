"""A slow source database holds up the mapping editor, never the ingestion API.

The editor lists the source's tables when it shows the form: a source that does not answer
(here a SQLite file locked by a writer: readers wait on its lock) keeps the post waiting.
The post runs in a worker thread, so the trigger and status routes, answered by the same
event loop, answer meanwhile.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.integration.ui.conftest import ORG, Site, csrf_of, sign_in
from tests.integration.ui.test_editor import NEW, editor_form
from xdm_connector.security.credentials import issue_token

INGEST = f"/{ORG}/campaign/dataIngestion/xdmIngestion/XDM44/ingest"


def test_a_locked_source_delays_the_editor_not_the_ingestion_routes(site: Site) -> None:
    # One client entered into the app: every request runs on its one event loop.
    client: TestClient = site.client
    sign_in(client, site.credentials.client_id, site.credentials.client_secret)
    token = csrf_of(client.get(NEW).text)
    access = issue_token(
        site.store, site.credentials.client_id, site.credentials.client_secret, 3600
    ).access_token
    headers = {"Authorization": f"Bearer {access}", "x-api-key": site.credentials.client_id}

    source_file = sa.make_url(site.store.tenants.get_organization(ORG).source_url).database
    assert source_file
    writer = sqlite3.connect(source_file, isolation_level=None)
    assert writer.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
    writer.execute("BEGIN EXCLUSIVE")  # readers now wait on the file's lock

    reading = threading.Event()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "sqlite_master" in statement:
            reading.set()

    answered: dict[str, Any] = {}

    def post_the_editor() -> None:
        form = editor_form(action="rows")
        answered["post"] = client.post(NEW, data={"csrf_token": token, **form})

    sa.event.listen(sa.Engine, "before_cursor_execute", on_statement)
    posting = threading.Thread(target=post_the_editor)
    try:
        posting.start()
        assert reading.wait(30), "the editor never read the source's tables"

        triggered = client.post(INGEST, headers=headers)
        status = client.get(
            INGEST, headers=headers, params={"requestId": triggered.json()["requestId"]}
        )
        # Both answered while the editor's post still waits on the source's lock.
        assert posting.is_alive()
        assert "post" not in answered
        assert triggered.status_code == 200, triggered.text
        assert status.status_code == 200, status.text
        assert status.json()["requestId"] == triggered.json()["requestId"]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        posting.join(30)
        sa.event.remove(sa.Engine, "before_cursor_execute", on_statement)
    assert not posting.is_alive()
    assert answered["post"].status_code == 200
    assert '<datalist id="tables"><option value="postalAddress"><option value="profile">' in (
        answered["post"].text
    )
