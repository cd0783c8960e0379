"""Hand-built XDM field trees for the pipeline tests."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from xdm_connector.xdm.fields import XdmField, XdmType


def leaf(path: str, kind: XdmType, **extra: Any) -> XdmField:
    """A scalar field at ``path``."""
    return XdmField(path=path, name=path.rsplit("/", 1)[-1], type=kind, **extra)


def obj(path: str, *children: XdmField) -> XdmField:
    """An object field with ``children``."""
    return XdmField(
        path=path,
        name=path.rsplit("/", 1)[-1],
        type=XdmType.OBJECT,
        children=MappingProxyType({child.name: child for child in children}),
    )


def container(path: str, kind: XdmType, items: XdmField) -> XdmField:
    """An array or a map of ``items``."""
    return XdmField(path=path, name=path.rsplit("/", 1)[-1], type=kind, items=items)


def profile_root() -> XdmField:
    """A small profile schema: objects, an enum, an 8-bit integer, identityMap, segments."""
    identity = obj(
        "/identityMap/*/*",
        leaf("/identityMap/*/*/id", XdmType.STRING),
        leaf("/identityMap/*/*/primary", XdmType.BOOLEAN),
        leaf(
            "/identityMap/*/*/authenticatedState",
            XdmType.STRING,
            enum=("ambiguous", "authenticated", "loggedOut"),
        ),
    )
    return obj(
        "/",
        leaf("/_id", XdmType.STRING),
        obj(
            "/person",
            obj(
                "/person/name",
                leaf("/person/name/firstName", XdmType.STRING),
                leaf("/person/name/lastName", XdmType.STRING),
            ),
            leaf("/person/birthDate", XdmType.DATE),
            leaf(
                "/person/gender",
                XdmType.STRING,
                enum=("male", "female", "not_specified", "non_specific"),
            ),
        ),
        obj("/personalEmail", leaf("/personalEmail/address", XdmType.STRING, format="email")),
        obj(
            "/_repo",
            leaf("/_repo/createDate", XdmType.DATE_TIME),
            leaf("/_repo/modifyDate", XdmType.DATE_TIME),
        ),
        obj(
            "/stats",
            leaf("/stats/age", XdmType.INTEGER, integer_bits=8),
            leaf("/stats/visits", XdmType.INTEGER),
            leaf("/stats/score", XdmType.NUMBER),
            leaf("/stats/vip", XdmType.BOOLEAN),
        ),
        obj("/optInOut", leaf("/optInOut/globalOptout", XdmType.BOOLEAN)),
        container(
            "/identityMap",
            XdmType.MAP,
            container("/identityMap/*", XdmType.ARRAY, identity),
        ),
        container("/segments", XdmType.ARRAY, leaf("/segments/*", XdmType.STRING)),
    )
