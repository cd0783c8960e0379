"""Secrets taken out of text, in every form they may be written in.

``mask_secrets(text, secrets)`` replaces every form of each secret (raw, percent-encoded,
``+``-encoded, base64, quoted, escaped: ``secret_forms``) by ``***``: the one place an
error's text passes before it is shown, logged or stored. A process remembers the secrets
of the sources it opens (``remember_secrets``), and its logs write no form of them
(``mask_known_secrets``), tracebacks included.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shlex
import threading
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote, quote_plus

import sqlalchemy as sa

MASK = "***"
_PERCENT = re.compile(r"%[0-9A-F]{2}")


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of each secret replaced by ``***`` (``secret_forms``)."""
    forms = sorted({form for secret in secrets for form in secret_forms(secret)}, key=len)
    for form in reversed(forms):
        text = text.replace(form, MASK)
    return text


@lru_cache(maxsize=256)
def secret_forms(secret: str) -> frozenset[str]:
    """The ways a secret may be written in a text: raw; percent-encoded (all, or but
    ``/``, upper- or lower-case hex, or as a URL's user part); ``+``-encoded; base64
    (standard and URL-safe, padded or not); quoted or escaped (libpq ``'...'``, shell,
    Python, JSON, HTML)."""
    if not secret:
        return frozenset()
    forms = {secret}
    for safe in ("", "/"):
        forms |= {quote(secret, safe=safe), quote_plus(secret, safe=safe)}
    user_part = sa.URL.create("x", username="u", password=secret, host="h")
    rendered = user_part.render_as_string(hide_password=False)
    forms.add(rendered[len("x://u:") : -len("@h")])
    forms |= {_PERCENT.sub(lambda hexa: hexa.group(0).lower(), form) for form in forms}
    raw = secret.encode()
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        forms |= {encoded.decode(), encoded.decode().rstrip("=")}
    forms |= {
        secret.replace("\\", "\\\\").replace("'", "\\'"),
        shlex.quote(secret),
        repr(secret)[1:-1],
        repr(raw)[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        html.escape(secret).replace("&#x27;", "&#39;").replace("&quot;", "&#34;"),
    }
    return frozenset(form for form in forms if form)


class _KnownSecrets:
    """The secrets of the sources this process has opened, as one pattern of their forms."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.pattern: re.Pattern[str] | None = None
        self.lock = threading.Lock()

    def add(self, secrets: Iterable[str]) -> None:
        with self.lock:
            new = {secret for secret in secrets if secret} - self.secrets
            if not new:
                return
            self.secrets |= new
            forms = {form for secret in self.secrets for form in secret_forms(secret)}
            longest_first = sorted(forms, key=len, reverse=True)
            self.pattern = re.compile("|".join(map(re.escape, longest_first)))

    def mask(self, text: str) -> str:
        pattern = self.pattern
        return text if pattern is None else pattern.sub(MASK, text)


# One per process: a log line may come from any thread, about any source opened before.
_KNOWN = _KnownSecrets()


def remember_secrets(secrets: Iterable[str]) -> None:
    """Keep the secrets of a source this process opens, for ``mask_known_secrets``."""
    _KNOWN.add(secrets)


def mask_known_secrets(text: str) -> str:
    """``text`` without any form of a secret of a source this process has opened: the
    logs' last guard, for a driver's message carried by a traceback."""
    return _KNOWN.mask(text)
