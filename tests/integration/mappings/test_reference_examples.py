"""The reference's examples on real databases: the values it shows, and the demo they name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from xdm_connector.demo.setup import DEMO_SCHEMA, demo_mapping
from xdm_connector.demo.source import create_demo_source
from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.expressions import ExpressionCompiler
from xdm_connector.expressions.value_types import value_type_of
from xdm_connector.mappings.reference import examples
from xdm_connector.mappings.reference.examples import ON_THE_RECORD
from xdm_connector.pipeline.plan import plan_export
from xdm_connector.sources.schema import Resource, describe_resource
from xdm_connector.xdm.registry import SchemaRegistry

VALUED = [example for example in examples.EXAMPLES if example.gives is not ON_THE_RECORD]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database: the valued examples read no table."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The demo's source, with a few profiles."""
    path = tmp_path_factory.mktemp("demo") / "demo-source.db"
    create_demo_source(path, profiles=50)
    engine = sa.create_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def columns(resource: Resource) -> list[tuple[str, object]]:
    return [(column.name, value_type_of(column.type)) for column in resource.table.columns]


def test_each_example_gives_what_the_reference_shows(engine: Engine) -> None:
    compiler = ExpressionCompiler(examples.example_source())
    wrong = {}
    with engine.connect() as connection:
        for example in VALUED:
            column = examples.compile_example(compiler, example).column
            value = connection.execute(sa.select(column)).scalar_one()
            # By type too: TRUE is not 1, 2.0 is not 2, a date-time is not a date.
            if (type(value), value) != (type(example.gives), example.gives):
                wrong[example.text] = value
    assert not wrong, f"{engine.dialect.name}: {wrong}"


def test_the_example_source_is_the_demos(demo_source: Engine) -> None:
    demo = describe_resource(demo_source, "profile")
    described = examples.example_source()
    assert columns(described) == columns(demo)
    assert described.key == demo.key
    assert [link.name for link in described.links] == [link.name for link in demo.links]
    for mine, theirs in zip(described.links, demo.links, strict=True):
        assert (mine.columns, mine.target_columns) == (theirs.columns, theirs.target_columns)
        assert columns(mine.target) == columns(theirs.target)


def test_each_example_reads_the_demo_as_it_reads_the_example_source(demo_source: Engine) -> None:
    on_the_demo = ExpressionCompiler(describe_resource(demo_source, "profile"))
    described = ExpressionCompiler(examples.example_source())
    selected = {}
    for index, example in enumerate(examples.EXAMPLES):
        compiled = examples.compile_example(on_the_demo, example)
        assert compiled.type is examples.compile_example(described, example).type
        selected[f"c{index}"] = compiled
    with demo_source.connect() as connection:
        rows = connection.execute(on_the_demo.select(selected).limit(5)).all()
    assert len(rows) == 5


def test_the_mapping_file_example_plans_an_export_of_the_demo(demo_source: Engine) -> None:
    definition = MappingDefinition.from_document(yaml.safe_load(examples.MAPPING_FILE))
    schema = SchemaRegistry.packaged().compose(DEMO_SCHEMA[0], list(DEMO_SCHEMA[1:]))
    plan = plan_export(definition, schema, describe_resource(demo_source, "profile"))
    query = plan.compiler.select(
        {plan.labels[path]: compiled for path, compiled in plan.targets.items()}
    )
    with demo_source.connect() as connection:
        rows = connection.execute(query.limit(5)).all()
    assert len(rows) == 5
    assert len(plan.targets) == len(definition.field_mappings)


def test_the_exdm_example_is_the_demos_gender() -> None:
    schema = SchemaRegistry.packaged().compose(DEMO_SCHEMA[0], list(DEMO_SCHEMA[1:]))
    field = schema.field_at(examples.EXDM_PATH)
    assert field is not None
    assert {value: field.enum_labels[str(value)] for value in field.enum} == examples.EXDM_ENUM
    assert demo_mapping().exdm_values[examples.EXDM_PATH] == examples.EXDM_VALUES
