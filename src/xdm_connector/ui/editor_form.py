"""The mapping editor's form: what it shows and posts, as typed, and its definition.

The editor posts rows of "source field expression" → "XDM field path" (repeated fields
``source`` and ``xdm``); ``EditorForm`` keeps what was typed, so a form that does not
validate comes back as it was, and turns into the document of a ``MappingDefinition``.
Fields the editor does not show (``exdmValues``, ``primaryKey``, ...) are kept from the
definition being edited. The editor's checks of an expression as one types are
``services/expression_checks.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xdm_connector.inputs import parse_integer

EMPTY_ROWS = 3


@dataclass
class EditorForm:
    """What the editor shows and posts, as typed."""

    id: str = ""
    label: str = ""
    targeting_dimension: str = ""
    dataset: str = ""
    audit_fields: str = "@lastModified"
    map_to_xdm_array: bool = False
    interval_minutes: str = "15"
    rows: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_definition(cls, document: dict[str, Any]) -> EditorForm:
        """The form of a stored definition."""
        return cls(
            id=document["id"],
            label=document.get("label", ""),
            targeting_dimension=document.get("targetingDimension", ""),
            dataset=document.get("dataset", ""),
            audit_fields="\n".join(document.get("auditFields", [])),
            map_to_xdm_array=bool(document.get("mapToXdmArray")),
            interval_minutes=str(document.get("intervalMinutes", 15)),
            rows=[(row["source"], row["xdm"]) for row in document.get("fieldMappings", [])],
        )

    @classmethod
    def from_form(cls, form: Any) -> EditorForm:
        """The form as posted (a Starlette ``FormData``)."""
        sources = [str(value) for value in form.getlist("source")]
        paths = [str(value) for value in form.getlist("xdm")]
        return cls(
            id=str(form.get("id", "")).strip(),
            label=str(form.get("label", "")).strip(),
            targeting_dimension=str(form.get("targetingDimension", "")).strip(),
            dataset=str(form.get("dataset", "")).strip(),
            audit_fields=str(form.get("auditFields", "")),
            map_to_xdm_array=form.get("mapToXdmArray") == "on",
            interval_minutes=str(form.get("intervalMinutes", "15")).strip(),
            rows=list(zip(sources, paths, strict=False)),
        )

    def padded_rows(self, extra: int = EMPTY_ROWS) -> list[tuple[str, str]]:
        """The filled rows, then ``extra`` empty ones to type into."""
        filled = [(source, xdm) for source, xdm in self.rows if source.strip() or xdm.strip()]
        return filled + [("", "")] * extra

    def document(self, base: dict[str, Any] | None = None) -> dict[str, Any]:
        """The definition document, over ``base`` (the definition being edited)."""
        audit = [line.strip() for line in self.audit_fields.splitlines() if line.strip()]
        rows = [
            {"source": source.strip(), "xdm": xdm.strip()}
            for source, xdm in self.rows
            if source.strip() or xdm.strip()
        ]
        try:
            interval: Any = parse_integer(self.interval_minutes)
        except ValueError:
            interval = self.interval_minutes  # the definition's check names the fault
        return {
            **(base or {}),
            "id": self.id,
            "label": self.label,
            "targetingDimension": self.targeting_dimension,
            "dataset": self.dataset,
            "auditFields": audit,
            "mapToXdmArray": self.map_to_xdm_array,
            "intervalMinutes": interval,
            "fieldMappings": rows,
        }
