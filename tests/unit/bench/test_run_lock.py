"""The benchmark's product processes see only the packages of the run lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from bench.harness import ROOT, probe_command
from bench.run_lock import hidden_modules, locked_distributions


def test_the_run_lock_pins_the_product_s_packages_and_not_the_tests() -> None:
    locked = locked_distributions()
    assert {"pyarrow", "deltalake", "sqlalchemy", "adbc-driver-sqlite", "xdm-connector"} <= locked
    assert "pytest" not in locked
    assert "hypothesis" not in locked


def test_what_the_lock_does_not_install_is_hidden(tmp_path: Path) -> None:
    lock = tmp_path / "run.txt"
    lock.write_text("pyarrow==26.0.1 \\\n    --hash=sha256:00\n", encoding="utf-8")
    hidden = hidden_modules(lock)
    assert {"pytest", "_pytest", "hypothesis", "sqlalchemy"} <= hidden
    assert "pyarrow" not in hidden
    assert "xdm_connector" not in hidden


def test_a_product_process_cannot_import_what_the_lock_does_not_install() -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "bench.run_lock", "pytest", "--version"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "No module named 'pytest'" in refused.stderr
    served = subprocess.run(
        [sys.executable, "-m", "bench.run_lock", "xdm_connector", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert served.returncode == 0, served.stderr
    assert "xdm-connector" in served.stdout


@pytest.mark.parametrize(("probe", "through_lock"), [("merge", True), ("dlt", False)])
def test_only_the_product_s_probes_run_through_the_lock(probe: str, through_lock: bool) -> None:
    command = probe_command(probe, {"home": "x"})
    assert ("bench.run_lock" in command) is through_lock
    assert command[-2:] == [probe, '{"home": "x"}']
