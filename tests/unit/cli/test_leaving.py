"""The command's process leaves with the status ``SystemExit`` would give, its output
flushed, without finalizing the interpreter (whose native destructors could abort it)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [("None", 0, ""), ("3", 3, ""), ("'the reason'", 1, "the reason\n")],
)
def test_leave_exits_as_system_exit_would_with_the_output_flushed(
    code: str, status: int, error: str
) -> None:
    script = (
        "import atexit, logging, sys\n"
        "from xdm_connector.cli import leave\n"
        "atexit.register(print, 'finalized')\n"
        "logging.basicConfig(stream=sys.stderr, format='%(message)s')\n"
        "logging.warning('logged')\n"
        "sys.stdout.write('written, unflushed')\n"
        f"leave({code})\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert ran.returncode == status
    assert ran.stdout == "written, unflushed"  # flushed; no finalizer ran
    assert ran.stderr == "logged\n" + error
