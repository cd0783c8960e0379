"""How the reference writes types, signatures, fields and values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy.types import TypeEngine

from xdm_connector.expressions import ValueType
from xdm_connector.expressions.ast import Operator
from xdm_connector.expressions.calls import FunctionTypes
from xdm_connector.expressions.functions import Signature
from xdm_connector.expressions.operators import typings
from xdm_connector.expressions.printer import literal_text
from xdm_connector.expressions.value_types import value_type_of
from xdm_connector.mappings.reference.examples import ON_THE_RECORD

VALUE_TYPES = tuple(value_type for value_type in ValueType if value_type is not ValueType.NULL)


def field_rows(model: type[BaseModel]) -> list[tuple[str, str, str, str]]:
    """Per field of ``model``: its name in a file, type (with its limits), default, meaning."""
    schema = model.model_json_schema(by_alias=True)
    rows = []
    for name, field in model.model_fields.items():
        alias = field.alias or name
        if field.description is None:
            raise AssertionError(f"{model.__name__}.{name} has no description")
        default = (
            "required"
            if field.is_required()
            else f"`{orjson.dumps(field.get_default(call_default_factory=True)).decode()}`"
        )
        rows.append(
            (f"`{alias}`", _json_type(schema["properties"][alias]), default, field.description)
        )
    return rows


def _json_type(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(_json_type(option) for option in schema["anyOf"])
    if "$ref" in schema:
        words = re.findall(r"[A-Z][a-z]*", schema["$ref"].rsplit("/", 1)[1])
        return " ".join(word.lower() for word in words)
    kind = str(schema["type"])
    if kind == "array":
        text = f"list({_json_type(schema['items'])})"
    elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        text = f"map({_json_type(schema['additionalProperties'])})"
    else:
        text = kind
    limits = []
    if "pattern" in schema:
        limits.append(f"matching `{schema['pattern']}`")
    for low, high, unit in (
        ("minLength", "maxLength", " characters"),
        ("minimum", "maximum", ""),
        ("minItems", "maxItems", " item(s)"),
    ):
        if low in schema and high in schema:
            limits.append(f"{schema[low]} to {schema[high]}{unit}")
        elif low in schema:
            limits.append(f"at least {schema[low]}{unit}")
        elif high in schema:
            limits.append(f"at most {schema[high]}{unit}")
    return f"{text}, {', '.join(limits)}" if limits else text


def value_type_text(sql_type: TypeEngine[Any]) -> str:
    """The value type a column of ``sql_type`` reads as."""
    found = value_type_of(sql_type)
    return "cannot be read" if found is None else found.value


def operator_name(op: Operator) -> str:
    """``op`` as written, ``NOT x`` and ``-x`` for the unary ones, with its other spellings."""
    if op.arity == 2:
        name = f"`{op.symbol}`"
    else:
        name = f"`{op.symbol} x`" if op.symbol.isalpha() else f"`{op.symbol}x`"
    return name + "".join(f" (also `{spelling}`)" for spelling in op.spellings)


def operator_types_text(op: Operator) -> str:
    """The operator's typings: for each left type, the right types that give one result;
    then left types that take the same right types together."""
    found = typings(op)
    if op.arity == 1:
        return "; ".join(f"{t.operands[0].value} → {t.result.value}" for t in found)
    by_left: dict[tuple[ValueType, ValueType], list[ValueType]] = {}
    for typing in found:
        by_left.setdefault((typing.operands[0], typing.result), []).append(typing.operands[1])
    by_right: dict[tuple[tuple[ValueType, ...], ValueType], list[ValueType]] = {}
    for (left_type, result), right_types in by_left.items():
        by_right.setdefault((tuple(right_types), result), []).append(left_type)
    results = {typing.result for typing in found}
    parts = [
        f"{_or(left_types)} and {_or(right_types)}"
        + ("" if len(results) == 1 else f" → {result.value}")
        for (right_types, result), left_types in by_right.items()
    ]
    if len(results) == 1:
        return "; ".join(parts) + f" → {results.pop().value}"
    return "; ".join(parts)


def parameter_list(signature: Signature) -> str:
    """The names of a function's arguments, ``...`` when it takes any number."""
    names = list(signature.parameters)
    if signature.max_args is None:
        names.append("...")
    return ", ".join(names)


def function_types_text(signature: Signature, types: FunctionTypes) -> str:
    """``string, integer, integer → string``: a type per argument, then the result."""
    arguments = [_type_set(allowed) for allowed in types.arguments]
    arguments += arguments[-1:] * (len(signature.parameters) - len(arguments))
    if signature.max_args is None:
        arguments.append("...")
    result = types.result.value if isinstance(types.result, ValueType) else types.result
    return f"{', '.join(arguments)} → {result}"


def _type_set(allowed: frozenset[ValueType]) -> str:
    if allowed >= set(VALUE_TYPES):
        return "any"
    return _or([value_type for value_type in VALUE_TYPES if value_type in allowed])


def _or(value_types: Sequence[ValueType]) -> str:
    return "/".join(value_type.value for value_type in value_types)


def value_text(value: object) -> str:
    """An example's value as a literal of the language (a date as ``2024-01-31``)."""
    if value is ON_THE_RECORD:
        return "from the record"
    return f"`{literal_text(value)}`"
