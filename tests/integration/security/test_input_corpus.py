"""No input reaches a 5xx: every route of the OpenAPI document and every page, fed bad input.

Each route is called by a valid caller (a bearer token, or a signed-in session with its
CSRF token) with valid values everywhere but one place, which holds a value of the
corpus: a path parameter, a query parameter, a value or a key of the JSON body, a form
field, the ``Authorization`` and ``X-Api-Key`` headers, the ``Origin`` of a form, a
cookie. Whatever the answer (400, 404, 409, a page...), it is never a 5xx. The corpus
holds what once reached one: integers beyond a store's columns, digits that are not
ASCII, numbers longer than Python parses, control characters and NUL, lone surrogates,
ids with a trailing newline, numbers that are not finite, documents nested too deep.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.integration.security.conftest import DATASET_ID, MAPPING_ID, World
from tests.integration.security.test_route_matrix import BODIES, INGEST
from tests.integration.ui.conftest import csrf_of, sign_in
from xdm_connector.services.webhooks import register_webhook
from xdm_connector.settings import Settings
from xdm_connector.store.store import Store
from xdm_connector.ui import ROUTERS
from xdm_connector.ui.sessions import NOTICE_COOKIE, SESSION_COOKIE, SIGNIN_COOKIE

TEXTS = [
    "",
    "\x00",
    "XDM44\x00",
    "XDM44\n",
    "\r\n",
    "\x1b[2J",
    "\x7f",
    "\x85",
    "\ud800",
    "é",
    "²",
    "١٢",
    "1" * 5000,
    str(2**63),
    str(2**31),
    str(-(2**63) - 1),
    "-1",
    "3.5",
    "1e400",
    "../..",
    "%00",
    "'; drop table jobs; --",
    "x" * 1000,
]
"""Texts, for every place a text goes: a path, a query, a JSON string."""
FORM_TEXTS = [
    "",
    "\x00",
    "XDM44\n",
    "\x1b[2J",
    "é",
    "²",
    "١٢",
    "1" * 5000,
    str(2**63),
    str(2**31),
    "x" * 1000,
]
"""Texts for a form's fields: one of each kind (the editor's answers are whole pages)."""
NUMBERS = [
    str(2**63),
    str(2**31),
    str(-(2**63) - 1),
    "1" * 5000,
    "1e400",
    "NaN",
    "-Infinity",
    "3.5",
    "true",
    "null",
    "[]",
    "{}",
    "[" * 200 + "]" * 200,
]
"""JSON values that are not strings, written as JSON."""
FRAGMENTS = [json.dumps(text) for text in TEXTS] + NUMBERS
"""Every JSON value of the corpus, as JSON text."""
NAMES = ["\x00", "a\x00b", "\x1b"]
"""Names of a query's parameters or a form's fields (a valid name would change the world:
a cancel or a deletion would go through)."""
KEYS = [*NAMES, "\ud800"]
"""Keys of a JSON object (a lone surrogate survives JSON, not a URL's decoding)."""
HEADERS = ["\x00", "é", "\xff", "\ud800", "a\r\nb"]
"""``Authorization`` (after ``Bearer``) and ``X-Api-Key`` values."""
ORIGINS = ["http://[", "\x00", "null", "http://évil.example"]
COOKIES = ["é.x", "x.é", "\x00", "a.b.c", ".", "%ff.%ff", "x" * 5000 + ".x"]
EDITOR_FORM = {
    "id": "XDM47",
    "label": "Profiles",
    "targetingDimension": "profile",
    "dataset": DATASET_ID,
    "auditFields": "@lastModified",
    "intervalMinutes": "15",
    "source": "@email",
    "xdm": "/personalEmail/address",
    "action": "save",
}
"""The editor's fields, which its routes read from the posted form themselves."""
EDITOR_ROUTES = {"/ui/new-mapping", "/ui/mappings/{mapping_id}/edit"}


def _escaped(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@dataclass
class Probe:
    """One call: a route with valid values, and where the corpus value went."""

    method: str
    path: str
    path_values: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] | None = None
    json_text: str | None = None
    headers: dict[str, bytes] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    where: str = ""

    def replaced(self, where: str, **changes: Any) -> Probe:
        """A copy with ``changes``, its corpus value at ``where``."""
        copy = Probe(**{**self.__dict__, "where": where})
        for name, value in changes.items():
            setattr(copy, name, value)
        return copy

    def send(self, client: TestClient) -> Any:
        url = self.path.format(**{k: _escaped(v) for k, v in self.path_values.items()})
        if self.query:
            url += "?" + "&".join(f"{_escaped(k)}={_escaped(v)}" for k, v in self.query.items())
        headers = dict(self.headers)
        content = None
        if self.form is not None:
            content = "&".join(f"{_escaped(k)}={_escaped(v)}" for k, v in self.form.items())
            headers["Content-Type"] = b"application/x-www-form-urlencoded"
        elif self.json_text is not None:
            content = self.json_text
            headers["Content-Type"] = b"application/json"
        if self.cookies:
            cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
            headers["Cookie"] = _raw(cookie)
        client.cookies.clear()
        body = _raw(content) if content is not None else None
        return client.request(
            self.method, url, content=body, headers=headers, follow_redirects=False
        )


def _places(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value inside a JSON document, outermost first."""
    if isinstance(node, dict | list):
        children = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in children:
            yield (*path, key)
            yield from _places(child, (*path, key))


def _at(document: Any, place: tuple[Any, ...]) -> Any:
    for step in place:
        document = document[step]
    return document


def _json_variants(probe: Probe, template: Any) -> Iterator[Probe]:
    """The body with each value, then each key, replaced; then the whole body replaced."""
    marker = "\ue000"
    for place in _places(template):
        where = ".".join(str(step) for step in place)
        document = json.loads(json.dumps(template))
        parent = _at(document, place[:-1])
        parent[place[-1]] = marker
        text = json.dumps(document)
        for fragment in FRAGMENTS:
            with_value = text.replace(json.dumps(marker), fragment)
            yield probe.replaced(f"body {where}", json_text=with_value)
        if isinstance(parent, dict):
            for key in KEYS:
                renamed = {key if name == place[-1] else name: v for name, v in parent.items()}
                parent.clear()
                parent.update(renamed)
                yield probe.replaced(f"body key {where}", json_text=json.dumps(document))
                original = {place[-1] if name == key else name: v for name, v in parent.items()}
                parent.clear()
                parent.update(original)
    for fragment in FRAGMENTS:
        yield probe.replaced("body", json_text=fragment)


def _variants(probe: Probe, queries: list[str], forms: list[str], body: Any) -> Iterator[Probe]:
    for name in probe.path_values:
        for text in TEXTS:
            yield probe.replaced(f"path {name}", path_values={**probe.path_values, name: text})
    for name in queries:
        for text in TEXTS:
            yield probe.replaced(f"query {name}", query={**probe.query, name: text})
    for name in NAMES:
        yield probe.replaced("query name", query={**probe.query, name: "1"})
    if probe.form is not None:
        for name in forms:
            for text in FORM_TEXTS:
                yield probe.replaced(f"form {name}", form={**probe.form, name: text})
        for name in NAMES:
            yield probe.replaced("form name", form={**probe.form, name: "1"})
    if body is not None:
        yield from _json_variants(probe, body)


@dataclass(frozen=True)
class Caller:
    """The valid caller of the API and of the pages."""

    world: World
    session: str
    csrf: str
    signin_cookie: str
    signin_csrf: str


def _webhook(client: TestClient) -> str:
    """A webhook of ``acme`` (registered for 127.0.0.1, which the app's settings refuse)."""
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    local = settings.model_copy(update={"webhook_allow_private": True})
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    created = register_webhook(
        store, local, "acme", url="http://127.0.0.1:9/", events=["job.ended"], actor="test"
    )
    return created.webhook.id


def _api_probes(client: TestClient, caller: Caller) -> Iterator[Probe]:
    world = caller.world
    values = {
        "org": "acme",
        "mapping_id": MAPPING_ID,
        "dataset_id": DATASET_ID,
        "group": "Administrators",
        "role_name": "sql",
        "client_id": world.spare.client_id,
        "job_id": str(world.request_id),
        "webhook_id": _webhook(client),
    }
    token = world.admin_headers["Authorization"].encode()
    key = world.admin_headers["X-Api-Key"].encode()
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    for path, operations in paths.items():
        for method, operation in operations.items():
            method = method.upper()
            parameters = operation.get("parameters", [])
            queries = [p["name"] for p in parameters if p["in"] == "query"]
            content = operation.get("requestBody", {}).get("content", {})
            form = None
            if "application/x-www-form-urlencoded" in content:
                form = {"client_id": world.admin.client_id, "client_secret": "wrong"}
            body = BODIES.get((method, path))
            if path == INGEST and method in ("GET", "DELETE"):
                body = {"requestId": world.request_id}
            probe = Probe(
                method,
                path,
                {p["name"]: values[p["name"]] for p in parameters if p["in"] == "path"},
                # The event stream's probes come after the cancels of INGEST's DELETE: the
                # request has ended, so each stream tells its end and closes.
                query={"requestId": str(world.request_id)} if path.startswith(INGEST) else {},
                form=form,
                json_text=json.dumps(body) if body is not None else None,
                headers={"Authorization": token, "X-Api-Key": key},
            )
            forms = ["client_id", "client_secret", "grant_type", "scope"] if form else []
            yield from _variants(probe, queries, forms, body)
            for text in HEADERS:
                bearer = {"Authorization": b"Bearer " + _raw(text), "X-Api-Key": key}
                yield probe.replaced("header Authorization", headers=bearer)
                api_key = {"Authorization": token, "X-Api-Key": _raw(text)}
                yield probe.replaced("header X-Api-Key", headers=api_key)


@dataclass
class Parameters:
    """What a page route reads: path and query parameters, form fields; the query
    parameters it cannot do without."""

    paths: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)


def _parameters(dependant: Dependant) -> Parameters:
    """Every parameter of a route and of its dependencies."""
    found = Parameters()
    pending = [dependant]
    while pending:
        current = pending.pop()
        found.paths += [param.alias for param in current.path_params]
        found.queries += [param.alias for param in current.query_params]
        found.required += [
            param.alias for param in current.query_params if param.field_info.is_required()
        ]
        found.forms += [param.alias for param in current.body_params]
        pending.extend(current.dependencies)
    return found


def _page_probes(client: TestClient, caller: Caller) -> Iterator[Probe]:
    values = {
        "mapping_id": MAPPING_ID,
        "request_id": str(caller.world.request_id),
        "dataset_id": DATASET_ID,
        "webhook_id": _webhook(client),
    }
    for route in (route for router in ROUTERS for route in router.routes):
        if not isinstance(route, APIRoute):
            continue
        parameters = _parameters(route.dependant)
        path_values = {name: values[name] for name in parameters.paths}
        queries = sorted(set(parameters.queries))
        required = dict.fromkeys(parameters.required, "@email")
        for method in sorted(route.methods):
            cookies = {SESSION_COOKIE: caller.session}
            form = None
            forms: list[str] = []
            if method == "POST":
                form = {"csrf_token": caller.csrf}
                if route.path == "/ui/signin":
                    cookies = {SIGNIN_COOKIE: caller.signin_cookie}
                    form = {
                        "csrf_token": caller.signin_csrf,
                        "client_id": caller.world.admin.client_id,
                        "client_secret": "wrong",
                    }
                if route.path in EDITOR_ROUTES:
                    form.update(EDITOR_FORM)
                forms = sorted({*form, *parameters.forms})
            probe = Probe(
                method, route.path, path_values, query=required, form=form, cookies=cookies
            )
            yield from _variants(probe, queries, forms, None)
            for name in (SESSION_COOKIE, SIGNIN_COOKIE, NOTICE_COOKIE):
                for text in COOKIES:
                    yield probe.replaced(f"cookie {name}", cookies={**cookies, name: text})
            if method == "POST":
                for origin in ORIGINS:
                    yield probe.replaced("header Origin", headers={"Origin": _raw(origin)})


def _signing_out_last(probe: Probe) -> bool:
    """Sort key: a sign-out that goes through ends the session the other probes use."""
    return probe.path == "/ui/signout"


def _caller(client: TestClient, world: World) -> Caller:
    browser = TestClient(client.app, base_url="http://testserver")
    sign_in(browser, world.admin.client_id, world.admin.client_secret)
    csrf = csrf_of(browser.get("/ui/mappings").text)
    visitor = TestClient(client.app, base_url="http://testserver")
    signin_csrf = csrf_of(visitor.get("/ui/signin").text)
    return Caller(
        world=world,
        session=browser.cookies[SESSION_COOKIE],
        csrf=csrf,
        signin_cookie=visitor.cookies[SIGNIN_COOKIE],
        signin_csrf=signin_csrf,
    )


def test_no_input_reaches_a_5xx(client: TestClient, world: World) -> None:
    caller = _caller(client, world)
    raw = TestClient(client.app, base_url="http://testserver", raise_server_exceptions=False)
    # The calls run on the event loop of the app's lifespan, as a server's do: without a
    # portal of its own, each of the thousands of calls would start a loop and a thread.
    raw.portal = client.portal
    pages = sorted(_page_probes(client, caller), key=_signing_out_last)
    probes = [*_api_probes(client, caller), *pages]
    failures = []
    for probe in probes:
        answer = probe.send(raw)
        if answer.status_code >= 500:
            failures.append(f"{probe.method} {probe.path} ({probe.where}): {answer.status_code}")
    assert len(probes) > 2000
    assert failures == [], f"{len(failures)} of {len(probes)} calls:\n" + "\n".join(failures[:40])


def test_every_page_and_route_is_walked(client: TestClient, world: World) -> None:
    caller = _caller(client, world)
    walked = {(p.method, p.path) for p in [*_api_probes(client, caller)]}
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    assert walked == {(m.upper(), path) for path, ops in paths.items() for m in ops}
    pages = {(p.method, p.path) for p in _page_probes(client, caller)}
    assert {("GET", "/ui/jobs/{request_id}"), ("POST", "/ui/new-mapping")} <= pages
    assert ("POST", "/ui/signin") in pages
