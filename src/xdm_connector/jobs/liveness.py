"""Whether the worker holding a lease is certainly gone, before its lease runs out.

A worker's name is ``<host>:<pid>:<random>`` (``jobs/worker.py``). A lease outlives the
process that held it by up to its length: a server killed and started again would wait that
long before recovering its own jobs. On the same host the answer is known at once: a worker
is certainly gone when no process has its pid any more, or when its pid is this process's
own and no worker of this process has its name (a restarted container's process often gets
the same pid). Anything else, a worker of another host above all, is left to its lease.
"""

from __future__ import annotations

import os
import socket
import threading

_live_in_this_process: set[str] = set()
_guard = threading.Lock()


def register(owner: str) -> None:
    """Say that the worker named ``owner`` lives in this process."""
    with _guard:
        _live_in_this_process.add(owner)


def unregister(owner: str) -> None:
    """Say that the worker named ``owner`` stopped."""
    with _guard:
        _live_in_this_process.discard(owner)


def certainly_gone(owner: str) -> bool:
    """Whether the worker named ``owner`` is certainly not running any more."""
    with _guard:
        if owner in _live_in_this_process:
            return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # a process of another user has that pid: it may be the worker
    return False
