"""The declared dependencies and the imports agree: every package the code imports is
declared where that code runs (the product, its tests, its benchmark, the Airflow
provider and its tests), and every declared package is imported, or used in a way named
and checked here."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
FIRST_PARTY = {"xdm_connector", "tests", "bench"}
AIRFLOW_PROVIDER = Path("src/xdm_connector/airflow")
AIRFLOW_TESTS = Path("tests/airflow")
NOT_INSTALLED_HERE = {"airflow": "apache-airflow", "MySQLdb": "mysqlclient"}
"""Modules of packages installed only in another environment (.venv-airflow) or only by
``make bench`` (the MariaDB reference's driver), by the distribution that provides them."""


def normalized(name: str) -> str:
    """A distribution's name as package indexes compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_name(requirement: str) -> str:
    return normalized(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])


RUNTIME = {declared_name(r) for r in PYPROJECT["project"]["dependencies"]}
EXTRAS = {
    extra: {declared_name(r) for r in requirements}
    for extra, requirements in PYPROJECT["project"]["optional-dependencies"].items()
}


def imported_modules(folder: Path, *, leaving_out: tuple[Path, ...] = ()) -> set[str]:
    """The top-level names of every module imported under ``folder`` (but the folders
    ``leaving_out``, relative to the project), lazy imports and ``TYPE_CHECKING`` ones
    included."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        if any(path.is_relative_to(ROOT / left) for left in leaving_out):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - FIRST_PARTY - set(sys.stdlib_module_names)


def distributions_of(modules: set[str]) -> dict[str, set[str]]:
    """Each imported module's distributions, by module: the installed ones, else the
    distribution of the module's own name (the benchmark's peers are installed by
    ``make bench`` alone)."""
    by_module = importlib.metadata.packages_distributions()
    return {
        module: {
            normalized(d) for d in by_module.get(module, [NOT_INSTALLED_HERE.get(module, module)])
        }
        for module in modules
    }


def undeclared(
    folder: str | Path, allowed: set[str], *, leaving_out: tuple[Path, ...] = ()
) -> dict[str, set[str]]:
    modules = imported_modules(ROOT / folder, leaving_out=leaving_out)
    return {
        module: distributions
        for module, distributions in distributions_of(modules).items()
        if not distributions & allowed
    }


def requirements_in(name: str) -> set[str]:
    """The packages a ``requirements/*.in`` file names."""
    lines = (ROOT / "requirements" / name).read_text().splitlines()
    return {declared_name(line) for line in lines if line.strip() and not line.startswith("#")}


def test_every_import_of_the_product_is_a_runtime_dependency() -> None:
    assert undeclared("src", RUNTIME, leaving_out=(AIRFLOW_PROVIDER,)) == {}


def test_every_import_of_the_airflow_provider_is_declared_in_its_extra() -> None:
    assert undeclared(AIRFLOW_PROVIDER, RUNTIME | EXTRAS["airflow"]) == {}


def test_every_import_of_the_tests_is_declared_for_them() -> None:
    assert undeclared("tests", RUNTIME | EXTRAS["dev"], leaving_out=(AIRFLOW_TESTS,)) == {}


def test_every_import_of_the_airflow_tests_is_in_their_environment() -> None:
    allowed = RUNTIME | EXTRAS["airflow"] | requirements_in("airflow.in")
    assert undeclared(AIRFLOW_TESTS, allowed) == {}


def test_every_import_of_the_benchmark_is_declared_for_it() -> None:
    assert undeclared("bench", RUNTIME | EXTRAS["dev"] | EXTRAS["bench"]) == {}


def imported_distributions(*folders: str) -> set[str]:
    modules: set[str] = set().union(*(imported_modules(ROOT / folder) for folder in folders))
    return set().union(*distributions_of(modules).values())


def installed_pytest_plugins() -> set[str]:
    return {
        normalized(entry.dist.name)
        for entry in importlib.metadata.entry_points(group="pytest11")
        if entry.dist is not None
    }


def used_without_an_import() -> set[str]:
    """Declared packages that no module imports, each kept for a use checked here."""
    makefile = (ROOT / "Makefile").read_text()
    importlib.import_module("starlette.testclient")
    uses = {
        # FastAPI parses forms (the token endpoint's) with it, imported by FastAPI itself.
        "python-multipart": importlib.util.find_spec("python_multipart") is not None,
        # Starlette's TestClient runs on it.
        "httpx2": "httpx2" in sys.modules,
        # SQLAlchemy's driver of the mysql:// and mariadb:// source URLs, named by the product.
        "pymysql": importlib.import_module("xdm_connector.sources.mysql").DRIVER == "pymysql",
        # Tools that make runs.
        "ruff": "$(BIN)/ruff " in makefile,
        "mypy": "$(BIN)/mypy " in makefile,
        "import-linter": "$(BIN)/lint-imports" in makefile,
    }
    uses |= dict.fromkeys(installed_pytest_plugins(), True)
    # Type stubs, for mypy, of a package the product imports.
    product = imported_distributions("src")
    stubs = {name for name in EXTRAS["dev"] if name.startswith("types-")}
    uses |= {stub: stub.removeprefix("types-") in product for stub in stubs}
    return {name for name, holds in uses.items() if holds}


def test_every_declared_dependency_is_used() -> None:
    used = imported_distributions("src", "tests", "bench") | used_without_an_import()
    declared = RUNTIME | set().union(*EXTRAS.values())
    assert declared - used == set()


def test_every_runtime_dependency_is_used_by_the_product() -> None:
    used = imported_distributions("src") | used_without_an_import()
    assert RUNTIME - used == set()


def test_every_package_of_the_airflow_tests_environment_is_used() -> None:
    used = imported_distributions(str(AIRFLOW_TESTS)) | {
        # Airflow's in-process execution API imports Starlette's TestClient, on httpx2.
        "httpx2",
        # Its plugin, for the timeout of pyproject's pytest settings.
        "pytest-timeout",
    }
    assert requirements_in("airflow.in") - used == set()
