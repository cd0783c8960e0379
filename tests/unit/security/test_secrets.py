"""Source URLs name their passwords; they are resolved only when the source is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from xdm_connector.errors import InvalidInput, SourceError
from xdm_connector.security.secrets import (
    check_source_url,
    display_source_url,
    resolve_source_url,
)

ENV_URL = "postgresql://crm:${CRM_PASSWORD}@db:5432/crm"


@pytest.mark.parametrize(
    "url",
    [
        ENV_URL,
        "postgresql://crm@db/crm?password_file=/run/secrets/crm",
        "postgresql://crm@db/crm",
        "sqlite:///var/demo-source.db",
        "postgresql://crm:@db/crm",
    ],
)
def test_urls_that_name_their_password_are_accepted(url: str) -> None:
    check_source_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://crm:s3cret@db/crm",
        "postgresql://crm:$CRM_PASSWORD@db/crm",
        "postgresql://crm:${CRM_PASSWORD}x@db/crm",
        "postgresql://crm@db/crm?password=s3cret",
    ],
)
def test_a_password_in_clear_is_refused_with_advice(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_source_url(url)
    assert "password in clear" in refused.value.message
    assert "${ENV_VAR}" in refused.value.message
    assert "password_file=" in refused.value.message
    assert "s3cret" not in refused.value.message


def test_a_password_named_twice_or_no_url_is_refused() -> None:
    with pytest.raises(InvalidInput, match="twice"):
        check_source_url("postgresql://crm:${A}@db/crm?password_file=/run/secrets/crm")
    with pytest.raises(InvalidInput, match="not a database URL"):
        check_source_url("not a url")


def test_display_keeps_references_and_masks_passwords() -> None:
    assert display_source_url(ENV_URL) == ENV_URL
    assert display_source_url("postgresql://crm:s3cret@db/crm") == "postgresql://crm:***@db/crm"
    file_url = "postgresql://crm@db/crm?password_file=/run/secrets/crm"
    assert display_source_url(file_url) == file_url
    assert display_source_url("not a url") == "(not a database URL)"


def test_an_environment_reference_is_resolved() -> None:
    resolved = resolve_source_url(ENV_URL, {"CRM_PASSWORD": "p@ss:w/rd"})
    assert resolved.password == "p@ss:w/rd"
    assert (resolved.host, resolved.port, resolved.database) == ("db", 5432, "crm")
    assert "p@ss" not in repr(resolved)


def test_a_missing_variable_is_a_source_error_naming_it() -> None:
    with pytest.raises(SourceError) as failed:
        resolve_source_url(ENV_URL, {})
    assert failed.value.code == "ACP-880056"
    assert "CRM_PASSWORD" in failed.value.message
    assert not failed.value.transient


def test_a_password_file_is_read_and_left_out_of_the_query(tmp_path: Path) -> None:
    secret = tmp_path / "crm"
    secret.write_text("from-file\n")
    url = f"postgresql://crm@db/crm?password_file={secret}&sslmode=require"
    resolved = resolve_source_url(url, {})
    assert resolved.password == "from-file"
    assert dict(resolved.query) == {"sslmode": "require"}


def test_an_unreadable_or_empty_password_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot be read"):
        resolve_source_url(f"postgresql://crm@db/crm?password_file={tmp_path}/none", {})
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(SourceError, match="is empty"):
        resolve_source_url(f"postgresql://crm@db/crm?password_file={empty}", {})


def test_urls_without_references_are_unchanged() -> None:
    assert resolve_source_url("sqlite:///var/source.db", {}).database == "var/source.db"
    legacy = resolve_source_url("postgresql://crm:old@db/crm", {})
    assert legacy.password == "old"
