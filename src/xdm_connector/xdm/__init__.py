"""XDM schemas: the packaged registry, ``$ref``/``allOf`` resolution, XED form, validation.

>>> from xdm_connector.xdm import SchemaRegistry
>>> schema = SchemaRegistry.packaged().compose("profile", ["profile-person-details"])
>>> schema.field_at("/person/name/firstName").type
<XdmType.STRING: 'string'>
"""

from xdm_connector.xdm.fields import XdmField, XdmType
from xdm_connector.xdm.registry import SchemaRegistry
from xdm_connector.xdm.schema import XedSchema
from xdm_connector.xdm.validation import RecordError, RecordValidator

__all__ = [
    "RecordError",
    "RecordValidator",
    "SchemaRegistry",
    "XdmField",
    "XdmType",
    "XedSchema",
]
