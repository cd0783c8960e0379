"""The pages in a real browser: Chromium driven by Playwright against a real server.

One demo installation on the embedded store serves both tests, with its worker: a person
signs in, writes a mapping in the editor (an expression checked as it is typed), publishes
it, stops it, ingests now and watches the job reach ``Success`` on the status page; then
opens a job that failed (the dataset's folder in the lake is taken by a file) and reads its
reason. Each page is saved as a screenshot under ``test-artifacts/pages``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Installation, demo_credentials
from tests.e2e.pages.browser import LAPTOP, PHONE, Screenshots, chromium

JOB_SECONDS = 60
DEMO_PROFILES = 10_000
UPLOAD_FAILED = "ACP-880096 Sync Job failed to upload. Please check the error in the Platform UI."
SCHEMA = (
    "profile,profile-person-details,profile-personal-details,profile-preferences-details,"
    "identitymap,campaign/address"
)
BLOCKED_MAPPING = """
id: XDM45
label: Profiles to a blocked dataset
targetingDimension: profile
dataset: blocked
fieldMappings:
  - {source: "ToString(@id)", xdm: "/_id"}
  - {source: "@email", xdm: "/personalEmail/address"}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """The demo, plus ``XDM45`` (published, stopped) whose dataset folder is a file."""
    folder = tmp_path_factory.mktemp("pages")
    installed = Installation(home=folder / "home", database_url=None)
    installed.home.mkdir()
    installed.cli("demo")
    installed.cli("datasets", "create", "--org", "demo", "--id", "blocked", "--schema", SCHEMA)
    mapping = folder / "blocked.yaml"
    mapping.write_text(BLOCKED_MAPPING)
    installed.cli("mappings", "apply", "--org", "demo", str(mapping))
    installed.cli("mappings", "publish", "--org", "demo", "XDM45", "--no-start")
    (installed.lake / "demo").mkdir(parents=True, exist_ok=True)
    (installed.lake / "demo" / "blocked").write_text("not a folder")
    try:
        installed.serve()
        yield installed
    finally:
        installed.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def shots() -> Screenshots:
    return Screenshots()


def sign_in(
    browser: Browser, site: Installation, errors: list[str], shots: Screenshots | None = None
) -> Page:
    """A new browser context, signed in with the demo integration's id and secret; the
    page's script errors and console errors (a refused script or style) go to ``errors``."""
    page = browser.new_context(viewport=LAPTOP).new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.goto(f"{site.base_url}/")
    expect(page).to_have_url(f"{site.base_url}/ui/signin?next=/ui/mappings")
    credentials = demo_credentials(site)
    page.get_by_label("Client id").fill(credentials["client_id"])
    page.get_by_label("Client secret").fill(credentials["client_secret"])
    if shots is not None:
        shots.take(page, "sign in")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Data mappings")).to_be_visible()
    return page


def fill_row(page: Page, row: int, source: str, xdm: str) -> None:
    page.get_by_label(f"Source field expression, row {row}", exact=True).fill(source)
    page.get_by_label(f"XDM field path, row {row}", exact=True).fill(xdm)


def test_create_publish_stop_and_ingest(
    browser: Browser, site: Installation, shots: Screenshots
) -> None:
    errors: list[str] = []
    page = sign_in(browser, site, errors, shots)
    expect(page.get_by_role("link", name="Profiles to Platform")).to_be_visible()
    shots.take(page, "data mappings")

    page.get_by_role("link", name="New mapping").click()
    page.get_by_label("ID", exact=True).fill("XDM46")
    page.get_by_label("Label", exact=True).fill("Emails to Platform")
    page.get_by_label("Targeting dimension", exact=True).fill("profile")
    page.get_by_label("Dataset", exact=True).select_option("profiles")
    fill_row(page, 1, "ToString(@id)", "/_id")
    fill_row(page, 2, "Lower(@emial)", "/personalEmail/address")
    check = page.locator("#check-2")
    expect(check).to_contain_text("Line 1, column 7: unknown field @emial")
    expect(page.get_by_label("Source field expression, row 2")).to_have_attribute(
        "aria-invalid", "true"
    )
    shots.take(page, "editor with an expression error")
    page.get_by_label("Source field expression, row 2").fill("Lower(@email)")
    expect(check).to_have_text("OK · string")
    fill_row(page, 3, "@email", "/identityMap/Email/0/id")
    page.get_by_role("button", name="Add rows").click()
    fill_row(page, 4, "true", "/identityMap/Email/0/primary")
    expect(page.locator("#check-4")).to_have_text("OK · boolean")
    page.get_by_label("Map to XDM arrays").check()
    page.get_by_role("button", name="Save and preview").click()
    expect(page.get_by_role("heading", name="Preview of the first records")).to_be_visible()
    expect(page.locator("#preview tbody tr")).to_have_count(10)
    expect(page.locator("#preview .badge", has_text="Valid")).to_have_count(10)
    expect(page.locator("#check-1")).to_have_text("OK · string")
    shots.take(page, "editor with a preview")

    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="XDM46").click()
    expect(page.get_by_role("heading", name="Emails to Platform")).to_be_visible()
    page.get_by_label("Yes: resend every record").check()
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Mapping XDM46 is published.")
    expect(page.locator(".statuses")).to_contain_text("Started")
    shots.take(page, "a published mapping")

    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_role("status")).to_contain_text("Mapping XDM46 is stopped.")
    page.get_by_role("button", name="Ingest now").click()
    expect(page.get_by_role("heading", name="Status of data export to platform")).to_be_visible()
    expect(page.locator(".notice")).to_contain_text("for the Mapping ID: XDM46")
    newest = page.locator("tr[data-job]").first
    expect(newest.locator(".status")).to_have_text("Success", timeout=JOB_SECONDS * 1000)
    # Publishing started the schedule: its first run exported every profile, and the
    # ingestion asked for afterwards exported what changed since (or was that same run).
    delivered = page.locator("tr[data-job] td[data-label='Number of records']")
    expect(delivered.filter(has_text=str(DEMO_PROFILES))).to_have_count(1)
    shots.take(page, "status of data export to platform")

    records = page.locator("td[data-label='Number of records']", has_text=str(DEMO_PROFILES))
    full = page.locator("tr[data-job]").filter(has=records)
    full.get_by_role("link", name=re.compile(r"^Job \d+ of XDM46$")).click()
    expect(page.get_by_role("heading", name="Job")).to_contain_text("Emails to Platform")
    expect(page.locator("dl.counts")).to_contain_text(f"Delivered{DEMO_PROFILES}")
    expect(page.locator("dl.facts")).to_contain_text("Window: Up to")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    shots.take(page, "a successful job")

    page.goto(f"{site.base_url}/ui/mappings/XDM46")
    expect(page.get_by_role("button", name="Start")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto(f"{site.base_url}/ui/jobs")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert errors == []


def test_a_failed_job_and_its_reason(
    browser: Browser, site: Installation, shots: Screenshots
) -> None:
    errors: list[str] = []
    page = sign_in(browser, site, errors)
    page.get_by_role("link", name="Profiles to a blocked dataset").click()
    page.get_by_role("button", name="Ingest now").click()
    page.get_by_label("Status").select_option("Failed")
    page.get_by_role("button", name="Filter").click()
    failed = page.locator("tr[data-job]").first
    expect(failed.locator(".status")).to_have_text("Failed", timeout=JOB_SECONDS * 1000)
    expect(failed.locator(".reason")).to_have_text(UPLOAD_FAILED)
    expect(failed.locator(".batch")).not_to_have_text("—")
    shots.take(page, "status filtered by failed")

    failed.get_by_role("link", name=re.compile(r"^Job \d+ of XDM45$")).click()
    expect(page.locator("p.notice .reason")).to_have_text(UPLOAD_FAILED)
    # The destination's own words, beside the contract's reason: the lake's dataset
    # folder is a file here, and the lake says so.
    expect(page.locator("p.notice .cause")).to_contain_text("blocked")
    expect(page.get_by_role("heading", name="The platform's errors")).to_be_visible()
    shots.take(page, "a failed job")

    phone = browser.new_context(viewport=PHONE, storage_state=page.context.storage_state())
    small = phone.new_page()
    small.goto(f"{site.base_url}/ui/mappings")
    expect(small.get_by_role("link", name="Profiles to a blocked dataset")).to_be_visible()
    shots.take(small, "data mappings on a phone")
    small.goto(f"{site.base_url}/ui/jobs")
    shots.take(small, "status on a phone")
    assert errors == []


def test_the_datasets_and_their_lake_modes(
    browser: Browser, site: Installation, shots: Screenshots
) -> None:
    site.cli(
        "datasets", "create", "--org", "demo", "--id", "profile-log", "--schema", "profile",
        "--lake-mode", "append",
    )  # fmt: skip
    errors: list[str] = []
    page = sign_in(browser, site, errors)
    page.get_by_role("link", name="Datasets").click()
    expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Datasets")).to_have_attribute("aria-current", "page")
    modes = {"profiles": "upsert", "blocked": "upsert", "profile-log": "append"}
    for dataset, mode in modes.items():
        row = page.locator(f"tr[data-dataset='{dataset}']")
        expect(row.locator("th")).to_have_text(dataset)
        expect(row.locator(".class")).to_contain_text("https://ns.adobe.com/xdm/context/profile")
        expect(row.locator(".lake-mode")).to_have_text(mode)
    shots.take(page, "datasets and their lake modes")
    assert errors == []
