"""Another process writing a SQLite source while the product reads it.

SQLite's locks are the file system's, held per process: a writer in the test's own process
would never block the reader. ``LockingWriter`` is a process that holds a write
transaction (``BEGIN EXCLUSIVE``: in the rollback-journal mode of the demo source, no
reader may start) until the test tells it to commit; ``BusyWriter`` commits a small write
transaction a few times a second until it is stopped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import TracebackType

_LOCKING = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
for line in sys.stdin:
    if line.strip() == "lock":
        connection.execute("BEGIN EXCLUSIVE")
        connection.execute("UPDATE profile SET phone = phone WHERE id = 1")
        print("locked", flush=True)
    elif line.strip() == "commit":
        connection.execute("COMMIT")
        print("committed", flush=True)
"""

# Holds its lock for ``hold`` seconds, then lets readers in for ``pause`` seconds: the
# load of the writer, not a barrier of the test.
_BUSY = """
import sqlite3, sys, time
hold, pause = float(sys.argv[2]), float(sys.argv[3])
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
print("writing", flush=True)
while True:
    connection.execute("BEGIN EXCLUSIVE")
    connection.execute("UPDATE profile SET phone = phone WHERE id = 1")
    time.sleep(hold)
    connection.execute("COMMIT")
    time.sleep(pause)
"""


class _Process:
    def __init__(self, script: str, *arguments: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _say(self, command: str, answer: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n")
        self.process.stdin.flush()
        self._hear(answer)

    def _hear(self, answer: str) -> None:
        assert self.process.stdout is not None
        heard = self.process.stdout.readline().strip()
        assert heard == answer, f"the writer said {heard!r}, not {answer!r}"

    def close(self) -> None:
        """End the process (a transaction it holds is rolled back)."""
        self.process.kill()
        self.process.communicate(timeout=30)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class LockingWriter(_Process):
    """A process that takes and holds a write lock on a SQLite file when told to."""

    def __init__(self, path: Path) -> None:
        super().__init__(_LOCKING, str(path))

    def __enter__(self) -> LockingWriter:
        return self

    def lock(self) -> None:
        """Begin a write transaction; answers once it holds the lock."""
        self._say("lock", "locked")

    def commit(self) -> None:
        """Commit it; answers once the lock is released."""
        self._say("commit", "committed")


class BusyWriter(_Process):
    """A process committing small write transactions, ``hold`` seconds each, ``pause``
    seconds apart, until closed."""

    def __init__(self, path: Path, *, hold: float, pause: float) -> None:
        super().__init__(_BUSY, str(path), str(hold), str(pause))
        self._hear("writing")

    def __enter__(self) -> BusyWriter:
        return self
