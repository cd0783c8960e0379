"""Fault injection for crash tests: a process that stops at one stage of its work and waits.

With ``XDMC_FAULT_PAUSE_AT=<stage>`` a worker (or a webhook dispatcher) that reaches
``stage`` writes ``$XDMC_HOME/faults/<stage>.paused`` (holding its process id) and waits until
``$XDMC_HOME/faults/<stage>.resume`` exists (``resume``), so that a test can kill it exactly
there::

    extract         after the first record batch is read, nothing written yet
    written         the batch files are written, no destination batch yet
    created         the destination batch exists (recorded on the job), no file sent
    ordered         the platform's work orders deleting the job's records are created and
                    recorded on the job, not yet followed; the batch not completed
    committed       the lake's Delta commit of the batch is made, the lake's record of the
                    batch (``_batches/<id>.json``) not yet written, the store not told
    completed       the destination accepted the batch, the store not told yet
    webhook-leased  a webhook dispatcher leased a delivery, nothing sent
    webhook-sent    the delivery was sent, its attempt not written

It sits beside the settings, below every layer, because the lake (``destinations``) pauses
at ``committed`` as the pipeline pauses at the other stages. The stages are
``settings.FaultStage``: the settings refuse any other name when they load,
and the type checker any other name at a pause point. Unset (the default), ``pause_at``
does nothing. Never set it in production.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from xdm_connector.settings import FaultStage

_POLL_SECONDS = 0.05


def pause_at(stage: FaultStage, setting: FaultStage | None, home: Path) -> None:
    """Wait at ``stage`` if ``setting`` (``XDMC_FAULT_PAUSE_AT``) names it."""
    if setting != stage:
        return
    folder = _folder(home)
    (folder / f"{stage}.paused").write_text(str(os.getpid()))
    resume = folder / f"{stage}.resume"
    while not resume.exists():
        time.sleep(_POLL_SECONDS)


def resume(stage: FaultStage, home: Path) -> None:
    """Let every process waiting at ``stage`` under ``home`` go on, and any that reaches it
    later pass."""
    (_folder(home) / f"{stage}.resume").touch()


def _folder(home: Path) -> Path:
    """``$XDMC_HOME/faults``, made if missing."""
    folder = home / "faults"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
