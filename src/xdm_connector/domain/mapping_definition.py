"""The definition of a data mapping, as a user writes it (YAML or JSON).

::

    id: XDM44
    label: Profiles to Platform
    targetingDimension: profile
    dataset: profiles
    auditFields: ["@lastModified"]
    fieldMappings:
      - {source: "@email", xdm: "/personalEmail/address"}
    deletes:                        # optional: how records die
      softDeleteWhen: "@deleted = 1"
      detectHardDeletes: true
      sweepIntervalMinutes: 1440
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from xdm_connector.errors import InvalidInput

IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


class FieldMapping(BaseModel):
    """One row: a source field expression and the XDM field path it fills."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        min_length=1,
        max_length=4000,
        description="the source expression that gives the field's value",
    )
    xdm: str = Field(
        pattern=r"^/[^\s]*$",
        max_length=1000,
        description="the path of the XDM field it fills, such as `/person/name/firstName`; "
        "an array's items by their index, `/identityMap/Email/0/id`, with `mapToXdmArray`",
    )


class DeleteRules(BaseModel):
    """How a mapping's records are deleted at the destination (its ``deletes`` section)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    soft_delete_when: str | None = Field(
        alias="softDeleteWhen",
        default=None,
        min_length=1,
        max_length=4000,
        description="a boolean expression of the source's record: true, the record is "
        "deleted (a delete is sent for it, never the record)",
    )
    detect_hard_deletes: bool = Field(
        alias="detectHardDeletes",
        default=False,
        description="whether records gone from the source are deleted at the destination "
        "too (found by the reconciliation)",
    )
    sweep_interval_minutes: int = Field(
        alias="sweepIntervalMinutes",
        default=1440,
        ge=0,
        le=366 * 24 * 60,
        description="how often an export reconciles the destination with the whole source, "
        "in minutes (0: every export)",
    )


class MappingDefinition(BaseModel):
    """Everything a mapping says; the stored and published form of a mapping.

    Each field's ``description`` is what the mapping language's reference says of it.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(
        pattern=IDENTIFIER,
        description="the mapping's id, unique in its organization: the API's `{mapping}`",
    )
    label: str = Field(
        default="", max_length=256, description="a name for people; the id when empty"
    )
    targeting_dimension: str = Field(
        alias="targetingDimension",
        min_length=1,
        max_length=128,
        description="the table or view of the source database whose records are exported "
        "(its columns are the expressions' `@name`)",
    )
    dataset: str = Field(
        pattern=IDENTIFIER,
        description="the dataset the records go to, whose XDM schema has the fields mapped",
    )
    audit_fields: list[str] = Field(
        alias="auditFields",
        default_factory=lambda: ["@lastModified"],
        description="expressions that tell when a record changed, a string or a list (of "
        "several, the latest counts): an export takes the records changed since the last",
    )
    field_mappings: list[FieldMapping] = Field(
        alias="fieldMappings",
        min_length=1,
        description="the XDM fields to fill, each from an expression (below)",
    )
    map_to_xdm_array: bool = Field(
        alias="mapToXdmArray",
        default=False,
        description="allows XDM paths into arrays, such as `/identityMap/Email/0/id`",
    )
    exdm_values: dict[str, dict[str, str]] = Field(
        alias="exdmValues",
        default_factory=dict,
        description="per XDM path, source values that `EXDM` maps explicitly: "
        '`{"/person/gender": {"unknown": "not_specified"}}`',
    )
    primary_key: list[str] | None = Field(
        alias="primaryKey",
        default=None,
        description="the key column of a targeting dimension that declares none (a view), "
        "or that replaces its primary key; exports need a key of one column",
    )
    interval_minutes: int = Field(
        alias="intervalMinutes",
        default=15,
        ge=1,
        le=7 * 24 * 60,
        description="how often a started mapping exports, in minutes",
    )
    rejected_threshold_percent: float = Field(
        alias="rejectedThresholdPercent",
        default=5.0,
        ge=0,
        le=100,
        description="the percentage of the records read that may fail validation: above "
        "it, the export fails (`ACP-880096`); below it, they are counted and left out",
    )

    deletes: DeleteRules | None = Field(
        default=None,
        description="how records are deleted: `softDeleteWhen`, `detectHardDeletes`, "
        "`sweepIntervalMinutes`; without it, records are never deleted",
    )

    @field_validator("audit_fields", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("audit_fields")
    @classmethod
    def _at_least_one(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one audit field is needed")
        return value

    def document(self) -> dict[str, Any]:
        """The definition as stored: JSON-compatible, with the original's field names."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_document(cls, document: Any) -> MappingDefinition:
        """Validate a parsed document; every problem is named at once."""
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'mapping'}: {error['msg']}"
                for error in exc.errors()
            )
            raise InvalidInput(f"invalid mapping definition: {problems}") from exc

    @classmethod
    def from_file(cls, path: Path) -> MappingDefinition:
        """Read a YAML or JSON mapping file."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
        try:
            document = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
            raise InvalidInput(
                f"{path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"
            ) from exc
        return cls.from_document(document)
