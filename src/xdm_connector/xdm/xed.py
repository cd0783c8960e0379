"""The XED form: property names as data sent to Experience Platform spells them.

The XDM files use JSON-LD names (the *source form*). Every property name becomes a short
path of XED names, and a path longer than one name nests the property under underscore
parents:

=========================================================  ===================================
source form                                                XED form
=========================================================  ===================================
``xdm:person``                                             ``person``
``repo:createDate``, ``schema:latitude``, ``dc:format``    ``_repo.createDate``,
                                                           ``_schema.latitude``, ``_dc.format``
``https://ns.adobe.com/xdm/channels/email``                ``_channels.email``
``https://ns.adobe.com/experience/campaign/addressQuality`` ``_experience.campaign.addressQuality``
``https://ns.adobe.com/xdm/foo`` (the ``xdm`` namespace)   ``foo``
``@id``, ``@type``                                         ``_id``, ``_type``
``@context``                                               dropped (JSON-LD only)
``firstName`` (no namespace: custom and tenant fields)     ``firstName``
=========================================================  ===================================

In short: the ``xdm`` namespace disappears, any other ``prefix:`` becomes ``_prefix``, a
``https://ns.adobe.com/`` URL (``xdm/`` removed) becomes ``_`` plus its path segments, and
a JSON-LD keyword ``@k`` becomes ``_k``. A tenant's own fields live under ``_{tenantId}``
(``https://ns.adobe.com/{tenantId}/...`` in the source form); the registry places custom
fields there. A URL on another host has no XED name and is refused.

:func:`to_xed` applies the rules to a resolved schema (no ``$ref`` left): ``properties``
are renamed and regrouped, ``required`` follows them, and ``patternProperties`` (regular
expressions over source names) are dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from xdm_connector.errors import InvalidInput

ADOBE_NAMESPACE_HOST = "ns.adobe.com"
XDM_PREFIX = "xdm"
JSONLD_CONTEXT = "@context"

_SUBSCHEMA_KEYS = ("items", "additionalProperties", "not")
_SUBSCHEMA_LIST_KEYS = ("allOf", "anyOf", "oneOf")


def xed_name(source_name: str) -> tuple[str, ...]:
    """The XED path of a source-form property name; empty for ``@context``.

    >>> xed_name("repo:createDate")
    ('_repo', 'createDate')
    """
    if source_name == JSONLD_CONTEXT:
        return ()
    if source_name.startswith("@"):
        return ("_" + source_name[1:],)
    if "://" in source_name:
        return _url_name(source_name)
    prefix, colon, local = source_name.partition(":")
    if not colon:
        return (source_name,)
    if prefix == XDM_PREFIX:
        return (local,)
    return ("_" + prefix, local)


def xed_dotted(source_name: str) -> str:
    """The XED name as Platform documentation writes it: ``_repo.createDate``."""
    return ".".join(xed_name(source_name))


def _url_name(url: str) -> tuple[str, ...]:
    parts = urlsplit(url)
    segments = [segment for segment in parts.path.split("/") if segment]
    if parts.netloc != ADOBE_NAMESPACE_HOST or not segments:
        raise InvalidInput(f"the property {url!r} is in a namespace with no XED name")
    if segments[0] == XDM_PREFIX:
        segments = segments[1:]
    if len(segments) == 1:
        return (segments[0],)
    return ("_" + segments[0], *segments[1:])


def to_xed(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A resolved source-form schema in XED form; the argument is left untouched."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "required", "patternProperties"):
            continue
        if key in _SUBSCHEMA_KEYS and isinstance(value, Mapping):
            out[key] = to_xed(value)
        elif key in _SUBSCHEMA_LIST_KEYS:
            out[key] = [to_xed(branch) for branch in value]
        else:
            out[key] = copy.deepcopy(value)
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        out["properties"] = {}
        for name, subschema in properties.items():
            _place(out, xed_name(name), to_xed(subschema))
    for name in schema.get("required", ()):
        _require(out, xed_name(name))
    return out


def _group(node: dict[str, Any], parents: tuple[str, ...]) -> dict[str, Any]:
    """The object node at ``parents`` below ``node``, created as an empty group if needed."""
    for name in parents:
        properties = node.setdefault("properties", {})
        node = properties.setdefault(name, {"type": "object", "properties": {}})
    return node


def _place(node: dict[str, Any], path: tuple[str, ...], subschema: dict[str, Any]) -> None:
    if not path:
        return
    parent = _group(node, path[:-1])
    siblings = parent.setdefault("properties", {})
    existing = siblings.get(path[-1])
    if existing is None:
        siblings[path[-1]] = subschema
        return
    # A group made for `_repo.x` meets a declared `_repo` (or the reverse): one object.
    merged = {**existing, **subschema}
    properties = {**existing.get("properties", {}), **subschema.get("properties", {})}
    if properties:
        merged["properties"] = properties
    required = [*existing.get("required", ()), *subschema.get("required", ())]
    if required:
        merged["required"] = list(dict.fromkeys(required))
    siblings[path[-1]] = merged


def _require(node: dict[str, Any], path: tuple[str, ...]) -> None:
    for depth, name in enumerate(path):
        parent = _group(node, path[:depth])
        required = parent.setdefault("required", [])
        if name not in required:
            required.append(name)
