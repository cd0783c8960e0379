"""The reference of the mapping language and of mapping files, made from the code.

``mapping_language_reference()`` is the Markdown of ``docs/mapping-language.md``, which
``xdm-connector mappings reference`` prints. Each part is read from what the product runs,
so that the reference cannot drift from it:

- functions: the grammar's registry (names, arguments, summaries) and the compiler's type
  rules (:func:`~xdm_connector.expressions.calls.function_types`);
- operators: the registry the printer uses (precedence, summaries), with the operand types
  found by compiling each operator over every pair of value types;
- literals, links and limits: the grammar's and the reflection's own constants and rules;
- types: ``value_type_of``, ``common_type`` and ``check_target``, asked for every case;
- mapping files: the fields of ``MappingDefinition``, with their types, defaults and
  descriptions;
- examples (:mod:`.examples`): each compiled as the document is made, its type shown as
  the compiler finds it.

``document`` writes the sections, ``notation`` how types, signatures and values are
written, ``markdown`` the tables and paragraphs. The package reads expressions and mapping
definitions only: nothing of the API, the pages, the command line or the store.
"""

from xdm_connector.mappings.reference.document import REGENERATE, mapping_language_reference

__all__ = ["REGENERATE", "mapping_language_reference"]
