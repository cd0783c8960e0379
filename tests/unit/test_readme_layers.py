"""The README's list of layers is the import contract's, layer for layer."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_lists_the_layers_the_contract_enforces() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in contracts["contracts"] if c["id"] == "layers")["layers"]
    found = re.search(r"```layers\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert found is not None, "the README's architecture section lists no layers"
    assert found.group(1).splitlines() == layers
