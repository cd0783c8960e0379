"""The mapping language's reference: committed as generated, complete, its examples sound."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from xdm_connector.cli import app
from xdm_connector.domain.mapping_definition import FieldMapping, MappingDefinition
from xdm_connector.errors import ExpressionError
from xdm_connector.expressions import ExpressionCompiler
from xdm_connector.expressions.ast import OPERATORS
from xdm_connector.expressions.functions import SIGNATURES
from xdm_connector.mappings.reference import REGENERATE, examples, mapping_language_reference
from xdm_connector.mappings.reference.examples import ON_THE_RECORD, Example

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "mapping-language.md"


@pytest.fixture(scope="module")
def reference() -> str:
    return mapping_language_reference()


@pytest.fixture(scope="module")
def sections(reference: str) -> dict[str, str]:
    """The reference's text under each ``## `` heading, by heading."""
    parts = reference.split("\n## ")[1:]
    return {part.split("\n", 1)[0]: part for part in parts}


@pytest.fixture
def compiler() -> ExpressionCompiler:
    return ExpressionCompiler(examples.example_source())


def test_the_committed_reference_is_the_generated_one(reference: str) -> None:
    committed = COMMITTED.read_text(encoding="utf-8")
    if committed != reference:
        diff = difflib.unified_diff(
            committed.splitlines(), reference.splitlines(), "committed", "generated", lineterm=""
        )
        shown = "\n".join(list(diff)[:40])
        pytest.fail(f"docs/mapping-language.md is out of date; run: {REGENERATE}\n{shown}")


def test_the_command_prints_the_reference(reference: str) -> None:
    answer = CliRunner().invoke(app, ["mappings", "reference"])
    assert answer.exit_code == 0, answer.output
    assert answer.stdout == reference


def test_every_function_is_described(sections: dict[str, str]) -> None:
    text = sections["Functions"]
    for signature in SIGNATURES.values():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{signature.name}("))
        assert signature.summary in row
        assert " → " in row


def test_every_operator_is_described_with_its_precedence(sections: dict[str, str]) -> None:
    rows = [line for line in sections["Operators"].splitlines() if line.startswith("| ")]
    for op in OPERATORS:
        row = next(line for line in rows if line.startswith(f"| {op.precedence} | `{op.symbol}"))
        assert op.summary in row
        for spelling in op.spellings:
            assert f"`{spelling}`" in row
        assert " → " in row


@pytest.mark.parametrize("model", [MappingDefinition, FieldMapping], ids=lambda m: m.__name__)
def test_every_field_of_a_mapping_file_is_described(
    sections: dict[str, str], model: type[MappingDefinition] | type[FieldMapping]
) -> None:
    text = sections["A mapping file"]
    for name, field in model.model_fields.items():
        alias = field.alias or name
        row = next(line for line in text.splitlines() if line.startswith(f"| `{alias}` |"))
        assert field.description
        assert field.description in row
        if field.is_required():
            assert "| required |" in row


def test_every_example_is_shown(reference: str) -> None:
    for example in examples.EXAMPLES:
        assert f"| `{example.text}` |" in reference


@pytest.mark.parametrize("example", examples.EXAMPLES, ids=lambda example: example.text)
def test_each_example_compiles_and_reads_a_record_exactly_when_it_says_so(
    compiler: ExpressionCompiler, example: Example
) -> None:
    compiled = examples.compile_example(compiler, example)
    assert compiled.is_constant is (example.gives is not ON_THE_RECORD)


@pytest.mark.parametrize("text", examples.ERRORS)
def test_each_error_shown_is_an_error(compiler: ExpressionCompiler, text: str) -> None:
    with pytest.raises(ExpressionError):
        compiler.compile(text)


def test_the_mapping_file_example_is_a_definition_whose_expressions_compile(
    compiler: ExpressionCompiler,
) -> None:
    definition = MappingDefinition.from_document(yaml.safe_load(examples.MAPPING_FILE))
    for row in definition.field_mappings:
        compiler.compile(row.source, exdm_enum=examples.EXDM_ENUM, exdm_values=examples.EXDM_VALUES)
    for text in definition.audit_fields:
        assert not compiler.compile(text).is_constant
    assert definition.exdm_values == {examples.EXDM_PATH: examples.EXDM_VALUES}


def test_the_reference_stays_below_the_api_cli_and_pages() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, xdm_connector.mappings.reference; print('\\n'.join(sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    above = ("api", "cli", "ui", "store", "jobs", "pipeline", "destinations", "platform")
    wrong = [
        name for name in loaded if any(name.startswith(f"xdm_connector.{top}") for top in above)
    ]
    assert wrong == []
