"""A dataset's schema: a class and its field groups, composed and in XED form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xdm_connector.errors import InvalidInput
from xdm_connector.xdm.fields import XdmField, build_field

PROFILE_CLASS_ID = "https://ns.adobe.com/xdm/context/profile"


class XedSchema:
    """The composed schema of a dataset (see ``SchemaRegistry.compose``).

    ``json_schema`` is a plain, self-contained JSON schema (draft-06, no ``$ref``) in XED
    form, for any JSON Schema validator; ``meta:*`` annotations stay in it. Treat it as
    read-only: ``root`` was built from it. For a profile with the person details,
    ``schema.field_at("/person/birthDate").type`` is ``XdmType.DATE``.
    """

    def __init__(
        self,
        json_schema: dict[str, Any],
        *,
        class_id: str,
        field_group_ids: tuple[str, ...] = (),
        tenant: str = "_customer",
    ) -> None:
        root = build_field(json_schema)
        if root is None:
            raise InvalidInput(f"the class {class_id} does not describe an object")
        self.json_schema = json_schema
        self.root: XdmField = root
        self.class_id = class_id
        self.field_group_ids = field_group_ids
        self.tenant = tenant

    @property
    def is_profile(self) -> bool:
        """Whether the class is the XDM Individual Profile."""
        return self.class_id == PROFILE_CLASS_ID

    def field_at(self, path: str) -> XdmField | None:
        """The field at an XED slash path, or ``None`` when the schema has no such field.

        A map step takes any key and an array step any index (or ``*``):
        ``/identityMap/Email/0/id`` is the ``id`` of an identity item.
        """
        if path == "/":
            return self.root
        if not path.startswith("/"):
            return None
        node: XdmField | None = self.root
        for step in path[1:].split("/"):
            if node is None or not step:
                return None
            node = node.child(step)
        return node

    def paths(self) -> Mapping[str, XdmField]:
        """Every field by path, in schema order (maps and arrays step through ``*``)."""
        return {node.path: node for node in self.root.walk()}

    def __repr__(self) -> str:
        return f"XedSchema(class_id={self.class_id!r}, field_group_ids={self.field_group_ids!r})"
