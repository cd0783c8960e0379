"""The import contract that keeps the client apart from the server names every module of
the package but the client and the product's errors: a new package is forbidden to the
client as soon as it exists (this test fails until the contract lists it)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "src" / "xdm_connector"
ALLOWED = {"client", "errors"}


def test_the_client_contract_forbids_every_other_module_of_the_package() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(item for item in contracts["contracts"] if item["id"] == "client-alone")
    siblings = {
        path.stem
        for path in PACKAGE.iterdir()
        if not path.name.startswith("_")
        and (path.suffix == ".py" or (path / "__init__.py").is_file())
    }
    forbidden = {name.removeprefix("xdm_connector.") for name in contract["forbidden_modules"]}
    assert forbidden == siblings - ALLOWED
