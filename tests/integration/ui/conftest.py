"""The pages in-process: a demo organization on an embedded store, browsed by TestClient.

``site`` is the app with the demo prepared (``XDM44`` published and stopped, its
``Administrators`` holding ``administration`` and ``sql``); ``browser(site, roles=...)``
is a signed-in TestClient of a new integration whose group holds those roles.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from xdm_connector.app import create_app
from xdm_connector.demo.setup import prepare_demo
from xdm_connector.services.integrations import NewIntegration, create_integration
from xdm_connector.services.organizations import create_group, grant_role
from xdm_connector.settings import Settings
from xdm_connector.store.jobs import JobOutcome
from xdm_connector.store.models import Job, utcnow
from xdm_connector.store.store import Store

ORG = "demo"
PROFILES = 30
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Site:
    """The app under test, its store, and the demo integration's credentials."""

    client: TestClient
    store: Store
    credentials: NewIntegration

    def browser(self, *, roles: tuple[str, ...] | None = None) -> TestClient:
        """A signed-in client: the demo integration's, or a new one holding ``roles``."""
        credentials = self.credentials
        if roles is not None:
            group = "Role " + "+".join(roles) if roles else "No role"
            create_group(self.store, ORG, group)
            for role in roles:
                grant_role(self.store, ORG, group, role)
            credentials = create_integration(self.store, ORG, groups=[group], name=group)
        client = TestClient(self.client.app, base_url="http://testserver")
        sign_in(client, credentials.client_id, credentials.client_secret)
        return client

    def finished_job(self, mapping_id: str = "XDM44", **outcome: object) -> Job:
        """A job of the mapping, claimed and ended: ``Failed`` with a ``reason``, else
        ``Success``."""
        self.store.jobs.request_ingestion(ORG, mapping_id)
        job = self.store.jobs.claim("tests", timedelta(minutes=1), utcnow())
        assert job is not None
        ended = JobOutcome(**outcome)  # type: ignore[arg-type]
        if ended.reason:
            self.store.jobs.fail(job.id, "tests", ended)
        else:
            self.store.jobs.succeed(job, "tests", ended, None)
        return self.store.jobs.get_by_id(job.id)


def csrf_of(html: str) -> str:
    """The CSRF token of a page's forms."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form"
    return found.group(1)


def sign_in(client: TestClient, client_id: str, secret: str) -> None:
    """Sign ``client`` in through the sign-in form."""
    form = client.get("/ui/signin")
    answer = client.post(
        "/ui/signin",
        data={"csrf_token": csrf_of(form.text), "client_id": client_id, "client_secret": secret},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def post_form(client: TestClient, url: str, page: str, **fields: str) -> Any:
    """POST a form of ``page`` (its URL) with the page's CSRF token, not following."""
    token = csrf_of(client.get(page).text)
    return client.post(url, data={"csrf_token": token, **fields}, follow_redirects=False)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    settings = Settings(home=tmp_path / "home", embedded_worker=False)
    settings.home.mkdir()
    store = Store(settings.store_url)
    store.upgrade()
    setup = prepare_demo(settings, store, profiles=PROFILES)
    store.close()
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        app_store: Store = client.app.state.store  # type: ignore[attr-defined]
        yield Site(client=client, store=app_store, credentials=setup.credentials)
