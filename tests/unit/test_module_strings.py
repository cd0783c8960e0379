"""Module paths written as strings resolve, and the import contracts count every import.

lint-imports sees ``import`` statements only: a module named in a string (uvicorn's
``"module:app"``, Alembic's script location, Jinja's package loader, a logger's name, a
test's ``monkeypatch.setattr`` target) is invisible to it, so a move could leave one
pointing nowhere. Every ``"xdm_connector...."`` string literal of src, tests and bench must
name a module, or an attribute or folder of one.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"xdm_connector(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?")


def string_references() -> Iterator[tuple[str, str, str | None]]:
    """Each module string of the code: (where, the string, the folder beside it or None)."""
    for folder in ("src", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Tuple) and len(node.elts) == 2:
                    package, folder_name = node.elts
                    if (
                        isinstance(package, ast.Constant)
                        and isinstance(package.value, str)
                        and REFERENCE.fullmatch(package.value)
                        and isinstance(folder_name, ast.Constant)
                        and isinstance(folder_name.value, str)
                    ):
                        where = f"{path.relative_to(ROOT)}:{node.lineno}"
                        yield where, package.value, folder_name.value
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and REFERENCE.fullmatch(node.value)
                ):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}", node.value, None


def is_module(name: str) -> bool:
    """Whether ``name`` is an importable module (a module's attribute is not)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the parent is a module, not a package
        return False


def resolves(reference: str) -> bool:
    """Whether ``reference`` names a module, or an attribute or resource of the longest module."""
    dotted, _, attribute = reference.partition(":")
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        if not is_module(name):
            continue
        target: object = importlib.import_module(name)
        for rest in [*parts[cut:], *([attribute] if attribute else [])]:
            if hasattr(target, rest):
                target = getattr(target, rest)
            elif cut == len(parts) and rest == attribute:
                # Alembic's "package:folder": a folder inside the package.
                return resources.files(name).joinpath(attribute).is_dir()
            else:
                return False
        return True
    return False


def test_the_code_names_modules_as_strings() -> None:
    # The known users of strings: if none were found, the scan itself would be broken.
    found = {reference for _, reference, _ in string_references()}
    assert "xdm_connector.app:create_app_from_environment" in found
    assert "xdm_connector.store:migrations" in found


def test_every_module_string_resolves() -> None:
    unresolved = [
        f"{where}: {reference}"
        for where, reference, _ in string_references()
        if not resolves(reference)
    ]
    assert unresolved == []


def test_every_package_folder_pair_names_a_folder() -> None:
    pairs = [(where, ref, folder) for where, ref, folder in string_references() if folder]
    assert pairs, "the pages' templates and static files are named as (package, folder)"
    missing = [
        f"{where}: {reference}/{folder}"
        for where, reference, folder in pairs
        if not resources.files(reference).joinpath(folder).is_dir()
    ]
    assert missing == []


def test_the_import_contracts_count_type_checking_imports() -> None:
    configuration = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    linter = configuration["tool"]["importlinter"]
    assert linter["exclude_type_checking_imports"] is False
