"""SQLite sources are read-only for the connector: never written, whoever else writes them.

The writer is another process holding the source open in WAL mode, with automatic
checkpoints off, so that the source's main file changes only if a reader writes it.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import adbc_driver_manager
import adbc_driver_sqlite.dbapi
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from xdm_connector.domain.mapping_definition import MappingDefinition
from xdm_connector.pipeline.preview import preview_mapping
from xdm_connector.services.datasets import create_dataset
from xdm_connector.services.mappings import apply_mapping
from xdm_connector.services.organizations import create_organization
from xdm_connector.settings import Settings
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.sources.product_data import ProductData
from xdm_connector.sources.sqlite import read_only_uri
from xdm_connector.store.store import Store
from xdm_connector.xdm.registry import SchemaRegistry

WRITER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA wal_autocheckpoint=0")
written = connection.execute("SELECT count(*) FROM profile").fetchone()[0]
print(written, flush=True)
for line in sys.stdin:
    for _ in range(int(line)):
        written += 1
        connection.execute(
            "INSERT INTO profile VALUES (?, ?, '2024-01-01 00:00:00')",
            (written, f"p{written}@example.com"),
        )
    print(written, flush=True)
connection.close()
"""
MAPPING = {
    "id": "PROFILES",
    "label": "profiles",
    "targetingDimension": "profile",
    "dataset": "profiles",
    "auditFields": ["@lastModified"],
    "fieldMappings": [
        {"source": "ToString(@id)", "xdm": "/_id"},
        {"source": "@email", "xdm": "/personalEmail/address"},
    ],
}


def wal_source(path: Path, rows: int) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(
            "CREATE TABLE profile (id INTEGER PRIMARY KEY, email TEXT, lastModified DATETIME)"
        )
        connection.executemany(
            "INSERT INTO profile VALUES (?, ?, '2024-01-01 00:00:00')",
            [(key, f"p{key}@example.com") for key in range(1, rows + 1)],
        )


class Writer:
    """Another process that holds the source open and writes rows when asked."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.written = self._answer()

    def write(self, rows: int) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{rows}\n")
        self.process.stdin.flush()
        self.written = self._answer()
        return self.written

    def close(self) -> None:
        """Let the writer close its connection and end."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=30) == 0

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    def _answer(self) -> int:
        assert self.process.stdout is not None
        return int(self.process.stdout.readline())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inode(path: Path) -> int:
    return path.stat().st_ino


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir()
    opened = Store(settings.store_url, product_data=ProductData.of(settings))
    opened.upgrade()
    yield opened
    opened.close()


def organization(store: Store, source_url: str) -> None:
    registry = SchemaRegistry.packaged()
    create_organization(store, "acme", source_url)
    create_dataset(
        store,
        registry,
        "acme",
        "profiles",
        class_ref="profile",
        field_groups=["profile-personal-details"],
    )
    apply_mapping(store, "acme", MappingDefinition.from_document(MAPPING))


def test_a_preview_leaves_a_wal_source_another_process_writes_as_it_was(
    store: Store, tmp_path: Path
) -> None:
    source = tmp_path / "crm" / "source.db"
    source.parent.mkdir()
    wal_source(source, rows=3)
    organization(store, f"sqlite:///{source}")
    wal, shm = source.with_name("source.db-wal"), source.with_name("source.db-shm")
    registry = SchemaRegistry.packaged()
    with Writer(source) as writer:
        writer.write(5)
        inodes = (inode(wal), inode(shm))
        for rows in (1, 7, 40):
            before = (digest(source), digest(wal))
            preview = preview_mapping(store, registry, "acme", "PROFILES", limit=100)

            assert preview.problems == []
            keys = [record.key for record in preview.records]
            assert keys == list(range(1, writer.written + 1))
            # Nothing of the source was written, and its WAL is the writer's, untouched.
            assert (digest(source), digest(wal)) == before
            assert (inode(wal), inode(shm)) == inodes
            writer.write(rows)
        written = writer.written
        writer.close()

    with closing(sqlite3.connect(source)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("SELECT count(*) FROM profile").fetchone() == (written,)
    assert not wal.exists()  # the writer, the last to close, found no reader left behind


def test_neither_sqlite_library_can_write_a_source(tmp_path: Path) -> None:
    source = tmp_path / "source.db"
    wal_source(source, rows=2)
    data = ProductData.of_store("sqlite://")
    with SourceDatabase(f"sqlite:///{source}", data) as database:
        with database.engine.connect() as connection, pytest.raises(OperationalError) as refused:
            connection.execute(sa.text("DELETE FROM profile"))
        assert "readonly database" in str(refused.value)
    # The URI the ADBC reader opens.
    with (
        closing(adbc_driver_sqlite.dbapi.connect(read_only_uri(source))) as connection,
        closing(connection.cursor()) as cursor,
        pytest.raises(adbc_driver_manager.Error, match="readonly database"),
    ):
        cursor.execute("DELETE FROM profile")
    with closing(sqlite3.connect(source)) as connection:
        assert connection.execute("SELECT count(*) FROM profile").fetchone() == (2,)


def test_a_sqlite_source_path_may_hold_any_character(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "crm @:?#%+ &='\"é€"
    folder.mkdir()
    source = folder / "source #1.db"
    wal_source(source, rows=4)
    organization(store, "sqlite:///" + quote(str(source)))

    for limit in (2, 4):
        preview = preview_mapping(store, SchemaRegistry.packaged(), "acme", "PROFILES", limit=limit)
        assert preview.problems == []
        assert [record.key for record in preview.records] == list(range(1, limit + 1))
    data = ProductData.of_store("sqlite://")
    profile = sa.table("profile", sa.column("id", sa.Integer))
    for use_adbc in (True, False):
        with SourceDatabase("sqlite:///" + quote(str(source)), data, use_adbc=use_adbc) as read:
            batches = list(read.read_batches(sa.select(profile.c.id), batch_rows=10))
        assert [key for batch in batches for key in batch.column("id").to_pylist()] == [1, 2, 3, 4]
