"""The platform's value conversions, and the service's refusal of paths leaving its folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from xdm_connector.errors import InvalidInput
from xdm_connector.local_platform.conversion import convert
from xdm_connector.local_platform.storage import inside, safe_relative
from xdm_connector.xdm.registry import SchemaRegistry
from xdm_connector.xdm.schema import XedSchema


@pytest.fixture(scope="module")
def schema() -> XedSchema:
    return SchemaRegistry.packaged().compose(
        "profile", ["profile-person-details", "profile-personal-details", "identitymap"]
    )


def test_strings_become_numbers_and_epochs_become_dates(schema: XedSchema) -> None:
    record = {
        "person": {"birthDate": 946684800000, "name": {"firstName": "12"}},
        "_repo": {"createDate": 946684800123},
        "identityMap": {"Email": [{"id": "a@b.co", "primary": True}]},
    }
    converted = convert(record, schema.root)
    assert converted["person"]["birthDate"] == "2000-01-01"
    assert converted["person"]["name"]["firstName"] == "12"  # a string field stays a string
    assert converted["_repo"]["createDate"] == "2000-01-01T00:00:00.123Z"
    assert converted["identityMap"] == record["identityMap"]
    assert record["person"]["birthDate"] == 946684800000  # the input is left alone


def test_booleans_arrays_and_unknown_fields_are_never_converted(schema: XedSchema) -> None:
    record = {"person": {"birthDate": True}, "identityMap": "x", "unknown": "1"}
    assert convert(record, schema.root) == record


def test_numeric_text_converts_to_integers_and_numbers() -> None:
    from xdm_connector.xdm.fields import XdmField, XdmType

    integer = XdmField(path="/n", name="n", type=XdmType.INTEGER)
    number = XdmField(path="/x", name="x", type=XdmType.NUMBER)
    assert convert(" -12 ", integer) == -12
    assert convert("1.5e3", number) == 1500.0
    assert convert("twelve", integer) == "twelve"
    assert convert("1e999", number) == "1e999"  # infinite: left for the validator to refuse


@pytest.mark.parametrize(
    "path",
    [
        "part-00000.parquet",
        "day=2024-01-31/part-00000.jsonl",
        "a/b/c.json",
    ],
)
def test_relative_file_paths_are_accepted(path: str, tmp_path: Path) -> None:
    assert safe_relative(path) == path
    assert inside(tmp_path, path).is_relative_to(tmp_path)


@pytest.mark.parametrize(
    "path",
    [
        "../secrets.json",
        "a/../../b",
        "..",
        "/etc/passwd",
        "a//b",
        "a/./b",
        ".hidden",
        "a\\..\\b",
        "%2e%2e/x",
        "..%2fx",
        "",
        "a/" * 20 + "b",
        "x" * 300,
    ],
)
def test_paths_that_could_leave_the_folder_are_refused(path: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="invalid file path"):
        inside(tmp_path, path)
