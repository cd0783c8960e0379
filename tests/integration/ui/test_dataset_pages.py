"""The datasets page: each dataset of the organization with its XDM class and lake mode,
for any signed-in member; another organization's datasets are not on it."""

from __future__ import annotations

from tests.integration.ui.conftest import ORG, Site
from xdm_connector.domain.lake_modes import LakeMode
from xdm_connector.security.roles import ROLE_SQL
from xdm_connector.services.datasets import create_dataset
from xdm_connector.services.organizations import create_organization
from xdm_connector.xdm.registry import SchemaRegistry

NAV_LINK = '<a href="/ui/datasets"'
PROFILE_CLASS = "https://ns.adobe.com/xdm/context/profile"


def test_each_dataset_shows_its_class_and_lake_mode(site: Site) -> None:
    registry = SchemaRegistry.packaged()
    create_dataset(
        site.store, registry, ORG, "profile-log", class_ref="profile", lake_mode=LakeMode.APPEND
    )
    create_organization(site.store, "other", "sqlite://")
    create_dataset(site.store, registry, "other", "elsewhere", class_ref="profile")
    client = site.browser(roles=(ROLE_SQL,))
    assert f"{NAV_LINK}>Datasets</a>" in client.get("/ui/mappings").text
    answer = client.get("/ui/datasets")
    assert answer.status_code == 200
    page = answer.text
    assert f'{NAV_LINK} aria-current="page">Datasets</a>' in page
    log = page.split('<tr data-dataset="profile-log">')[1].split("</tr>")[0]
    assert "<code>profile-log</code>" in log
    assert PROFILE_CLASS in log
    assert '<td data-label="Lake mode" class="lake-mode">append</td>' in log
    profiles = page.split('<tr data-dataset="profiles">')[1].split("</tr>")[0]
    assert '<td data-label="Lake mode" class="lake-mode">upsert</td>' in profiles
    assert "elsewhere" not in page


def test_the_page_asks_for_a_session(site: Site) -> None:
    answer = site.client.get("/ui/datasets", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/signin?next=/ui/datasets"
