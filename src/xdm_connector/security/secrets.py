"""Source database passwords: named in the URL, read only when the source is opened.

An organization's source URL never holds a password in clear. It names one instead:

- ``postgresql://crm:${CRM_PASSWORD}@db/crm``: the environment variable ``CRM_PASSWORD``
  of the process that opens the source (a worker, or the API when it validates a mapping);
- ``postgresql://crm@db/crm?password_file=/run/secrets/crm``: the content of that file,
  without its trailing newline (a Docker or Kubernetes secret).

``check_source_url`` refuses a URL with a password in clear (in its user part or as a
``password`` query parameter); ``resolve_source_url`` puts the password in just before
``SourceDatabase`` connects; ``display_source_url`` is the only form shown or logged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError

from xdm_connector.errors import SOURCE_FAILED_MESSAGE, InvalidInput, SourceError

FILE_OPTION = "password_file"
MASK = "***"
SECRET_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
"""A reference ``${NAME}`` to the environment variable ``NAME`` (group 1), standing for a
secret that is never stored: a source password, a platform client secret."""
_PLACEHOLDER = "XDMC-HIDDEN-VALUE"
_ADVICE = (
    "name it instead: postgresql://user:${ENV_VAR}@host/db (an environment variable) "
    "or postgresql://user@host/db?password_file=/run/secrets/name (a file)"
)


def check_source_url(url: str) -> sa.URL:
    """The parsed URL, or ``InvalidInput`` if it is no URL or holds a password in clear."""
    try:
        parsed = sa.make_url(url)
    except ArgumentError as exc:
        raise InvalidInput("the source URL is not a database URL") from exc
    if "password" in parsed.query:
        raise InvalidInput(f"the source URL holds a password in clear: {_ADVICE}")
    if parsed.password and SECRET_REFERENCE.match(str(parsed.password)) is None:
        raise InvalidInput(f"the source URL holds a password in clear: {_ADVICE}")
    if parsed.password and FILE_OPTION in parsed.query:
        raise InvalidInput("the source URL names its password twice: keep one of the two")
    return parsed


def display_source_url(url: str) -> str:
    """The URL as it may be shown: a reference as written, a password in clear masked."""
    try:
        parsed = sa.make_url(url)
    except ArgumentError:
        return "(not a database URL)"
    if not parsed.password:
        return unquote(parsed.render_as_string(hide_password=False))
    reference = SECRET_REFERENCE.match(str(parsed.password))
    shown = reference.group(0) if reference else MASK
    rendered = parsed.set(password=_PLACEHOLDER).render_as_string(hide_password=False)
    return unquote(rendered).replace(_PLACEHOLDER, shown)


def resolve_source_url(url: str, environ: Mapping[str, str] | None = None) -> sa.URL:
    """The URL to connect with: the named password read from ``environ`` or its file.

    Raises ``SourceError`` (``ACP-880056``) when the variable is not set or the file cannot
    be read; the message names the variable or the file, never a password. A URL stored
    before passwords were refused in clear is answered unchanged.
    """
    environ = os.environ if environ is None else environ
    try:
        parsed = sa.make_url(url)
    except ArgumentError as exc:
        raise SourceError(f"{SOURCE_FAILED_MESSAGE} The source URL is not a database URL.") from exc
    reference = SECRET_REFERENCE.match(str(parsed.password)) if parsed.password else None
    if reference is not None:
        name = reference.group(1)
        if name not in environ:
            raise SourceError(
                f"{SOURCE_FAILED_MESSAGE} The environment variable {name} named by the "
                "source URL is not set."
            )
        return parsed.set(password=environ[name])
    if FILE_OPTION in parsed.query:
        path = Path(str(parsed.query[FILE_OPTION]))
        query = {key: value for key, value in parsed.query.items() if key != FILE_OPTION}
        return parsed.set(password=_read_password(path), query=query)
    return parsed


def _read_password(path: Path) -> str:
    try:
        password = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(
            f"{SOURCE_FAILED_MESSAGE} The password file {path} named by the source URL "
            f"cannot be read ({type(exc).__name__})."
        ) from exc
    if not password:
        raise SourceError(
            f"{SOURCE_FAILED_MESSAGE} The password file {path} named by the source URL is empty."
        )
    return password
