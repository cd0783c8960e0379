"""Source URLs: their secrets named in the URL, read only when the source is opened, never shown.

A **secret** of a source URL is its user part's password, or the value of a query option
whose name holds ``password``, ``passwd``, ``pwd``, ``secret``, ``token`` or ``passphrase``
(any case: ``password``, ``sslpassword``, ``api_token``...). A secret is never written in
the URL: it is named instead, in one of two ways:

- ``postgresql://crm:${CRM_PASSWORD}@db/crm``, ``...?sslpassword=${CRM_KEY_PASSWORD}``: the
  environment variable of the process that opens the source (a worker, or the API when it
  validates a mapping);
- ``postgresql://crm@db/crm?password_file=/run/secrets/crm``, ``...?sslpassword_file=...``:
  the content of that file, without its trailing newline (a Docker or Kubernetes secret).
  ``<option>_file`` names the file of ``<option>``; ``password_file`` the user's password.

``check_source_url`` refuses a URL with a secret in clear, or named twice;
``resolve_source_url`` puts the secrets in just before ``SourceDatabase`` connects (each
driver then encodes them as it reads them); ``display_source_url`` is the only form of a
URL shown, logged or kept with an error; ``source_secrets`` are the secrets an opened source
holds, which ``masking.mask_secrets`` takes out of any text in every form.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError

from xdm_connector.errors import (
    SOURCE_FAILED_MESSAGE,
    SOURCE_IN_CLEAR,
    SOURCE_URL,
    SourceError,
    SourceRefused,
)
from xdm_connector.masking import MASK

FILE_SUFFIX = "_file"
"""``<option>_file`` names the file holding the secret ``<option>``."""
SECRET_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
"""A reference ``${NAME}`` to the environment variable ``NAME`` (group 1), standing for a
secret that is never stored: a source password, a platform client secret."""
SECRET_WORDS = ("password", "passwd", "pwd", "secret", "token", "passphrase")
"""A query option whose name holds one of these (any case) holds a secret."""
_PLACEHOLDER = "XDMCHIDDENVALUE{}X"


def is_secret_option(name: str) -> bool:
    """Whether the query option ``name`` holds a secret (``sslpassword``, ``api_token``...)."""
    lowered = name.lower()
    return not lowered.endswith(FILE_SUFFIX) and any(word in lowered for word in SECRET_WORDS)


def file_option_target(name: str) -> str | None:
    """The secret option whose file the option ``name`` names (``sslpassword_file`` gives
    ``sslpassword``, ``password_file`` the user's ``password``), or ``None``."""
    if not name.lower().endswith(FILE_SUFFIX):
        return None
    target = name[: -len(FILE_SUFFIX)]
    if not is_secret_option(target):
        return None
    return "password" if target.lower() == "password" else target


def file_references(url: sa.URL) -> list[Path]:
    """The files a source URL names for its secrets (``*_file``, libpq's ``passfile``)."""
    paths = []
    for name, value in url.query.items():
        if file_option_target(name) is not None or name.lower() == "passfile":
            paths += [Path(each) for each in _values(value) if each]
    return paths


def parse_source_url(url: str | sa.URL) -> sa.URL:
    """The parsed URL, or ``SourceRefused`` (``XDMC-SOURCE-URL``) if it is no database URL."""
    try:
        return sa.make_url(url)
    except ArgumentError as exc:
        raise SourceRefused("the source URL is not a database URL", code=SOURCE_URL) from exc


def check_source_url(url: str | sa.URL) -> sa.URL:
    """The parsed URL, or ``SourceRefused`` if it is no URL (``XDMC-SOURCE-URL``) or holds a
    secret in clear or names one twice (``XDMC-SOURCE-SECRET``)."""
    parsed = parse_source_url(url)
    if parsed.password and not _is_reference(str(parsed.password)):
        raise _in_clear("its user part", "password")
    named: dict[str, list[str]] = {}
    if parsed.password is not None:
        named["password"] = ["the user part"]
    for name, value in parsed.query.items():
        target = file_option_target(name)
        if target is not None:
            if not all(_values(value)) or len(_values(value)) != 1:
                raise SourceRefused(
                    f"the source URL's {name} must name one file", code=SOURCE_IN_CLEAR
                )
            named.setdefault(target, []).append(name)
        elif is_secret_option(name):
            if any(each and not _is_reference(each) for each in _values(value)):
                raise _in_clear(f"the option {name}", name)
            named.setdefault("password" if name.lower() == "password" else name, []).append(name)
    for target, places in named.items():
        if len(places) > 1:
            raise SourceRefused(
                f"the source URL names its {target} twice ({', '.join(places)}): keep one",
                code=SOURCE_IN_CLEAR,
            )
    return parsed


def display_source_url(url: str | sa.URL) -> str:
    """The URL as it may be shown: references and files as written, any other secret
    masked (``***``)."""
    try:
        parsed = sa.make_url(url)
    except ArgumentError:
        return "(not a database URL)"
    shown: dict[str, str] = {}

    def hidden(value: str) -> str:
        placeholder = _PLACEHOLDER.format(len(shown))
        shown[placeholder] = value if _is_reference(value) else MASK
        return placeholder

    password = hidden(str(parsed.password)) if parsed.password else parsed.password
    query = {
        name: tuple(hidden(each) if each else each for each in _values(value))
        if is_secret_option(name)
        else value
        for name, value in parsed.query.items()
    }
    rendered = unquote(
        parsed.set(password=password, query=query).render_as_string(hide_password=False)
    )
    for placeholder, value in shown.items():
        rendered = rendered.replace(placeholder, value)
    return rendered


def resolve_source_url(url: str | sa.URL, environ: Mapping[str, str] | None = None) -> sa.URL:
    """The URL to connect with: each named secret read from ``environ`` or its file.

    Raises ``SourceError`` (``ACP-880056``) when a variable is not set or a file cannot be
    read; the message names the variable or the file, never a secret. A secret stored in
    clear before such URLs were refused is kept as it is.
    """
    environ = os.environ if environ is None else environ
    try:
        parsed = sa.make_url(url)
    except ArgumentError as exc:
        raise SourceError(f"{SOURCE_FAILED_MESSAGE} The source URL is not a database URL.") from exc
    password = None if parsed.password is None else _resolved(str(parsed.password), environ)
    query: dict[str, str | tuple[str, ...]] = {}
    for name, value in parsed.query.items():
        target = file_option_target(name)
        if target == "password":
            password = _read_secret_file(Path(_values(value)[0]))
        elif target is not None:
            query[target] = _read_secret_file(Path(_values(value)[0]))
        elif is_secret_option(name):
            query[name] = tuple(_resolved(each, environ) for each in _values(value))
        else:
            query[name] = value
    return parsed.set(password=password, query=_single_values(query))


def source_secrets(url: sa.URL) -> list[str]:
    """The secrets a URL holds (its password, its secret options' values), non-empty."""
    found = [str(url.password)] if url.password else []
    for name, value in url.query.items():
        if is_secret_option(name):
            found += [each for each in _values(value) if each]
    return found


def _is_reference(value: str) -> bool:
    return SECRET_REFERENCE.fullmatch(value) is not None


def _values(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _single_values(
    query: dict[str, str | tuple[str, ...]],
) -> dict[str, str | tuple[str, ...]]:
    return {
        name: value[0] if isinstance(value, tuple) and len(value) == 1 else value
        for name, value in query.items()
    }


def _in_clear(where: str, option: str) -> SourceRefused:
    kind = "password" if any(word in option.lower() for word in ("pass", "pwd")) else "secret"
    if option == "password" and where == "its user part":
        advice = (
            "postgresql://user:${ENV_VAR}@host/db (an environment variable) "
            "or postgresql://user@host/db?password_file=/run/secrets/name (a file)"
        )
    else:
        advice = (
            f"{option}=${{ENV_VAR}} (an environment variable) "
            f"or {option}{FILE_SUFFIX}=/run/secrets/name (a file)"
        )
    return SourceRefused(
        f"the source URL holds a {kind} in clear ({where}): name it instead: {advice}",
        code=SOURCE_IN_CLEAR,
    )


def _resolved(value: str, environ: Mapping[str, str]) -> str:
    reference = SECRET_REFERENCE.fullmatch(value)
    if reference is None:
        return value
    name = reference.group(1)
    if name not in environ:
        raise SourceError(
            f"{SOURCE_FAILED_MESSAGE} The environment variable {name} named by the "
            "source URL is not set."
        )
    return environ[name]


def _read_secret_file(path: Path) -> str:
    try:
        secret = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(
            f"{SOURCE_FAILED_MESSAGE} The file {path} named by the source URL "
            f"cannot be read ({type(exc).__name__})."
        ) from exc
    if not secret:
        raise SourceError(
            f"{SOURCE_FAILED_MESSAGE} The file {path} named by the source URL is empty."
        )
    return secret
