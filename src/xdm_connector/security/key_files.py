"""The installation's key files: 32 random bytes in ``$XDMC_HOME``, mode 0600.

The first process that needs a key makes its file atomically; every process sharing the
home (or a copy of the file) uses the same key. ``ui-session.key`` signs the pages'
cookies; ``webhooks.key`` derives the webhooks' signing secrets.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path``; made atomically (a link never replaces a file) when missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
        # Two processes may race: the first link wins, the other reads the winner's key.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return bytes.fromhex(path.read_text().strip())


def load_key(path: Path) -> bytes | None:
    """The key in ``path``, or None when there is no such file."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        return None
