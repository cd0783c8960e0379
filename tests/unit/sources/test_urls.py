"""Source URLs name their secrets; they are resolved only when the source is opened, and
are shown masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from xdm_connector.errors import InvalidInput, SourceError
from xdm_connector.sources.urls import check_source_url, display_source_url, resolve_source_url

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
        "postgresql://crm@db/crm?sslpassword=s3cret",
        "postgresql://crm@db/crm?SSLPassword=s3cret",
        "postgresql://crm@db/crm?sslmode=require&sslpassword=s3cret",
    ],
)
def test_a_password_in_clear_is_refused_with_advice(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_source_url(url)
    assert refused.value.code == "XDMC-SOURCE-SECRET"
    assert "password in clear" in refused.value.message
    assert "${ENV_VAR}" in refused.value.message
    assert "_file=/run/secrets/name" in refused.value.message
    assert "s3cret" not in refused.value.message


def test_a_reference_followed_by_a_line_break_is_no_reference() -> None:
    for url in (
        "postgresql://crm@db/crm?sslpassword=%24%7BCRM_SECRET%7D%0A",
        "postgresql://crm:%24%7BCRM_SECRET%7D%0A@db/crm",
    ):
        with pytest.raises(InvalidInput) as refused:
            check_source_url(url)
        assert refused.value.code == "XDMC-SOURCE-SECRET"


@pytest.mark.parametrize(
    ("option", "kind"),
    [
        ("api_token", "secret"),
        ("Client_Secret", "secret"),
        ("authToken", "secret"),
        ("db_pwd", "password"),
        ("passwd", "password"),
        ("ssl_passphrase", "password"),
    ],
)
def test_every_option_named_like_a_secret_must_be_named_too(option: str, kind: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_source_url(f"postgresql://crm@db/crm?{option}=s3cret")
    assert refused.value.code == "XDMC-SOURCE-SECRET"
    assert f"{kind} in clear (the option {option})" in refused.value.message
    assert f"{option}=${{ENV_VAR}}" in refused.value.message
    assert "s3cret" not in refused.value.message
    check_source_url(f"postgresql://crm@db/crm?{option}=${{CRM_SECRET}}")
    check_source_url(f"postgresql://crm@db/crm?{option}_file=/run/secrets/crm")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://crm@db/crm?sslpassword=${CRM_KEY}&sslmode=verify-full",
        "postgresql://crm@db/crm?sslpassword_file=/run/secrets/key",
        "postgresql://crm@db/crm?passfile=/run/secrets/pgpass",
        "postgresql://crm@db/crm?password=${CRM_PASSWORD}",
        "postgresql://crm@db/crm?sslpassword=",
        "postgresql://crm@db/crm?application_name=crm&options=-c%20work_mem%3D64MB",
    ],
)
def test_named_secrets_and_other_options_are_accepted(url: str) -> None:
    check_source_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://crm:${A}@db/crm?password_file=/run/secrets/crm",
        "postgresql://crm:${A}@db/crm?password=${B}",
        "postgresql://crm@db/crm?password=${B}&password_file=/run/secrets/crm",
        "postgresql://crm@db/crm?sslpassword=${A}&sslpassword_file=/run/secrets/key",
    ],
)
def test_a_secret_named_twice_is_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="twice") as refused:
        check_source_url(url)
    assert refused.value.code == "XDMC-SOURCE-SECRET"


def test_no_url_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not a database URL") as refused:
        check_source_url("not a url")
    assert refused.value.code == "XDMC-SOURCE-URL"


def test_display_keeps_references_and_masks_passwords() -> None:
    assert display_source_url(ENV_URL) == ENV_URL
    assert display_source_url("postgresql://crm:s3cret@db/crm") == "postgresql://crm:***@db/crm"
    file_url = "postgresql://crm@db/crm?password_file=/run/secrets/crm"
    assert display_source_url(file_url) == file_url
    assert display_source_url("not a url") == "(not a database URL)"


def test_display_masks_every_secret_option_written_in_clear() -> None:
    stored = "postgresql://crm@db/crm?sslpassword=s3cret&api_token=t0ken&sslmode=require"
    assert display_source_url(stored) == (
        "postgresql://crm@db/crm?api_token=***&sslmode=require&sslpassword=***"
    )
    named = "postgresql://crm@db/crm?sslpassword=${KEY}&sslpassword_file=/run/secrets/k"
    assert display_source_url(named) == named


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


def test_secret_options_are_resolved_from_variables_and_files(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("from file\n")
    url = f"postgresql://crm@db/crm?sslpassword_file={key}&api_token=${{TOKEN}}&sslmode=require"
    resolved = resolve_source_url(url, {"TOKEN": "t&k=n"})
    assert dict(resolved.query) == {
        "sslpassword": "from file",
        "api_token": "t&k=n",
        "sslmode": "require",
    }
    assert resolve_source_url("postgresql://crm@db/crm?password=${P}", {"P": "p"}).query == {
        "password": "p"
    }


def test_urls_without_references_are_unchanged() -> None:
    assert resolve_source_url("sqlite:///var/source.db", {}).database == "var/source.db"
    legacy = resolve_source_url("postgresql://crm:old@db/crm", {})
    assert legacy.password == "old"
