"""The conversions Adobe's platform applies to a record before validating it, imitated.

A string becomes a number or an integer when it reads as one; an epoch in milliseconds
becomes a date (``2024-01-31``) or a date-time (``2024-01-31T12:30:00Z``). Booleans and
arrays are never converted, and nothing else is: any other mismatch is left for the
validator to refuse::

    convert({"person": {"birthDate": 946684800000}}, schema.root)
    # {"person": {"birthDate": "2000-01-01"}}

The record is copied where it changes and shared where it does not. The README's "Local
platform service" says where the service applies them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from xdm_connector.xdm.fields import XdmField, XdmType

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_EPOCH_MS_RANGE = (-62_135_596_800_000, 253_402_300_799_999)  # years 1 to 9999


def convert(value: Any, field: XdmField) -> Any:
    """``value`` of ``field`` with the platform's conversions applied, through its children."""
    match field.type:
        case XdmType.OBJECT if isinstance(value, dict):
            return {
                key: convert(item, child) if (child := field.children.get(key)) else item
                for key, item in value.items()
            }
        case XdmType.MAP if isinstance(value, dict) and field.items is not None:
            items = field.items
            return {key: convert(item, items) for key, item in value.items()}
        case XdmType.ARRAY if isinstance(value, list) and field.items is not None:
            items = field.items
            return [convert(item, items) for item in value]
        case XdmType.INTEGER if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            return int(value.strip())
        case XdmType.NUMBER if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            number = float(value.strip())
            return number if math.isfinite(number) else value
        case XdmType.DATE | XdmType.DATE_TIME if _is_epoch_ms(value):
            moment = dt.datetime.fromtimestamp(value / 1000, dt.UTC)
            if field.type is XdmType.DATE:
                return moment.date().isoformat()
            return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        case _:
            return value


def _is_epoch_ms(value: Any) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and _EPOCH_MS_RANGE[0] <= value <= _EPOCH_MS_RANGE[1]
    )
