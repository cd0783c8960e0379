"""The connector's own data, which no source may be.

A source is read with the rights of the connector: a source URL that names the connector's
own data would show it to whoever writes a mapping. The metadata store, read as a
source, previews every organization's client ids and secret digests; worse, a second
SQLite library opening the store's file inside the server's process drops the server's
POSIX locks on it when it closes (a process's locks on a file go with any of its
descriptors), so that another process deletes the store's ``-wal`` and ``-shm`` under the
server, whose later writes are lost.

``ProductData.check_source(url)`` refuses (``SourceRefused``, ``XDMC-SOURCE-OWN-DATA``) a
source URL that names, or names a secret file under:

- the metadata store: its SQLite file (and ``-wal``, ``-shm``, ``-journal``), or the same
  PostgreSQL database as ``XDMC_DATABASE_URL`` (same host, port and database; host names
  compared by the addresses they resolve to, this machine's names all alike);
- anything under ``XDMC_HOME`` (but the demo's source, which the demo writes there), the
  lake (``XDMC_LAKE_PATH``) and the local platform service's home.

Paths are compared resolved (relative paths, ``..`` and symbolic links), and by device and
inode (hard links, bind mounts). The rule is checked where a source URL is set
(``create_organization``) and again where a source is opened (``SourceDatabase``), so that
a URL stored before it is never opened. ``check_source`` also refuses the forms whose
target cannot be checked: a SQLite URL with options (``?uri=true&mode=rw...``), a
PostgreSQL ``service``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from xdm_connector.errors import SOURCE_OWN_DATA, SOURCE_URL, SourceRefused
from xdm_connector.settings import Settings
from xdm_connector.sources.urls import file_references, parse_source_url

SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
POSTGRESQL_PORT = "5432"
_IN_MEMORY = ("", ":memory:")


def sqlite_file(url: sa.URL) -> Path | None:
    """The file a SQLite URL names, resolved (``None`` for a database in memory).

    ``SourceRefused`` (``XDMC-SOURCE-URL``) for a URL with options: a source is named by
    its path alone, and opened read-only by the connector.
    """
    if url.query:
        raise SourceRefused(
            "a SQLite source is named by its path alone (sqlite:///path/to/file.db), "
            f"without options such as {', '.join(sorted(url.query))}",
            code=SOURCE_URL,
        )
    database = url.database or ""
    if database in _IN_MEMORY:
        return None
    return Path(database).expanduser().resolve()


@dataclass(frozen=True)
class ProductData:
    """Where the connector keeps its own data: its store, and folders of its own."""

    store_url: sa.URL
    folders: tuple[tuple[str, Path], ...] = ()
    """Folders no source may be under, each with what it is (``XDMC_HOME``...)."""
    exempt: tuple[Path, ...] = ()
    """Files under those folders that may be sources: the demo's."""

    @classmethod
    def of(cls, settings: Settings) -> ProductData:
        """The data of the connector these settings describe."""
        return cls(
            store_url=sa.make_url(settings.store_url),
            folders=(
                ("XDMC_HOME", settings.home),
                ("the lake, XDMC_LAKE_PATH", settings.lake_root),
                ("the platform service's home", settings.platform_root),
            ),
            exempt=(settings.demo_source_path,),
        )

    @classmethod
    def of_store(cls, store_url: str | sa.URL) -> ProductData:
        """The metadata store alone (a store opened without settings)."""
        return cls(store_url=sa.make_url(store_url))

    def check_source(self, url: str | sa.URL) -> None:
        """Refuse a source URL that names the connector's own data (module doc)."""
        parsed = parse_source_url(url)
        for path in file_references(parsed):
            self._check_file(path, "the file of a secret")
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            source_file = sqlite_file(parsed)
            if source_file is not None:
                self._check_file(source_file, "the source")
        elif backend == "postgresql":
            if "service" in parsed.query:
                raise SourceRefused(
                    "a PostgreSQL source names its host, port and database, "
                    "not a connection service (service=)",
                    code=SOURCE_URL,
                )
            if self.store_url.get_backend_name() == "postgresql" and _same_database(
                parsed, self.store_url
            ):
                raise _own_data("the source", "the metadata store's PostgreSQL database")

    def _check_file(self, path: Path, what: str) -> None:
        resolved = path.expanduser().resolve()
        seen = _identity(resolved)
        for store_file in self._store_files():
            if resolved == store_file or (seen is not None and seen == _identity(store_file)):
                raise _own_data(what, f"the metadata store, {store_file}")
        if any(resolved == exempt.expanduser().resolve() for exempt in self.exempt):
            return
        lineage = [resolved, *resolved.parents]
        for name, folder in self.folders:
            root = folder.expanduser().resolve()
            root_identity = _identity(root)
            if root in lineage or (
                root_identity is not None and root_identity in map(_identity, lineage)
            ):
                raise _own_data(what, f"{resolved}, under {name} ({root})")

    def _store_files(self) -> list[Path]:
        if self.store_url.get_backend_name() != "sqlite":
            return []
        database = self.store_url.database or ""
        if database in _IN_MEMORY:
            return []
        store = Path(database).expanduser().resolve()
        return [store, *(store.with_name(store.name + suffix) for suffix in SQLITE_SIDECARS)]


def _own_data(what: str, which: str) -> SourceRefused:
    return SourceRefused(
        f"{what} is the connector's own data ({which}): a source must be a database of its own",
        code=SOURCE_OWN_DATA,
    )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_dev, status.st_ino)


def _same_database(source: sa.URL, store: sa.URL) -> bool:
    """Whether two PostgreSQL URLs reach the same database: a host and port in common
    (the options ``host``, ``hostaddr`` and ``port`` included), and the same database."""
    if _database_name(source) != _database_name(store):
        return False
    return any(
        port == other_port and _same_host(host, other_host)
        for host, port in _endpoints(source)
        for other_host, other_port in _endpoints(store)
    )


def _database_name(url: sa.URL) -> str:
    """libpq's database: ``dbname``, else the URL's, else the user's name."""
    named = _option(url, "dbname")
    return (named[0] if named else None) or url.database or url.username or ""


def _endpoints(url: sa.URL) -> list[tuple[str, str]]:
    hosts = [*_option(url, "hostaddr"), *_option(url, "host")] or [url.host or ""]
    ports = _option(url, "port") or [str(url.port) if url.port else POSTGRESQL_PORT]
    return [(host, port or POSTGRESQL_PORT) for host in hosts for port in ports]


def _option(url: sa.URL, name: str) -> list[str]:
    """A libpq option's comma-separated values (``host=a,b``)."""
    value = url.query.get(name)
    values = (value,) if isinstance(value, str) else tuple(value or ())
    return [part.strip() for each in values for part in each.split(",")]


def _same_host(one: str, other: str) -> bool:
    one, other = one.strip("[]").lower(), other.strip("[]").lower()
    if one == other:
        return True
    one_addresses, other_addresses = _addresses(one), _addresses(other)
    if _is_local(one, one_addresses) and _is_local(other, other_addresses):
        return True
    return bool(one_addresses & other_addresses)


def _is_local(host: str, addresses: Iterable[str]) -> bool:
    """A Unix socket (no host, or a folder) or an address of this machine."""
    if not host or host.startswith("/") or host.startswith("@"):
        return True
    own = _addresses(socket.gethostname()) | _addresses("localhost")
    return any(
        ipaddress.ip_address(address.split("%")[0]).is_loopback or address in own
        for address in addresses
    )


def _addresses(host: str) -> set[str]:
    if not host or host.startswith(("/", "@")):
        return set()
    try:
        found = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return set()
    return {str(entry[4][0]) for entry in found}
