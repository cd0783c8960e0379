"""Source expressions: grammar, type checking, compilation to SQLAlchemy Core.

``parse`` turns text into a syntax tree and ``to_text`` back; ``ExpressionCompiler`` checks
a tree against a source resource and compiles it with bound parameters; ``check_target``
tells whether a value type can fill an XDM field type.
"""

from xdm_connector.expressions.compiler import CompiledExpression, ExpressionCompiler
from xdm_connector.expressions.grammar import parse
from xdm_connector.expressions.printer import to_text
from xdm_connector.expressions.value_types import ValueType, check_target

__all__ = [
    "CompiledExpression",
    "ExpressionCompiler",
    "ValueType",
    "check_target",
    "parse",
    "to_text",
]
