"""Writers that change the demo source while exports run, each in a process of its own:
two SQLite libraries in one process (Python's and the ADBC driver's) do not share their
file locks. On MariaDB they write through PyMySQL, autocommitted.

A writer is ``CONNECTION`` then its own body: ``kind, where, profiles, writes`` from its
arguments, ``chooser`` (seeded), ``next_id`` (the next free key), ``stamp`` (an audit value
as the source stores it) and ``execute`` (``?`` marks).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from tests.integration.engine.conftest import PROFILES, Engine
from xdm_connector.store.models import Job

CONNECTION = """
import random, sqlite3, sys, time
from datetime import UTC, datetime, timedelta

kind, where, profiles, writes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
stamp = lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S.%f")
chooser = random.Random(int(sys.argv[5]))
next_id = profiles + 1
if kind == "sqlite":
    source = sqlite3.connect(where, timeout=30, isolation_level=None)
    mark = "?"
else:
    import pymysql
    from sqlalchemy.engine import make_url
    url = make_url(where)
    source = pymysql.connect(
        host=url.host, port=url.port or 3306, user=url.username, password=url.password or "",
        database=url.database, autocommit=True, charset="utf8mb4",
    )
    mark = "%s"


def execute(statement, parameters=()):
    cursor = source.cursor()
    cursor.execute(statement.replace("?", mark), parameters)
    return cursor
"""


def exports_during(engine: Engine, body: str, *, writes: int, seed: int) -> list[Job]:
    """The jobs run one after another while a writer (``CONNECTION`` and ``body``) makes
    ``writes`` writes; it must end without an error."""
    where = engine.source_url
    if engine.source_kind == "sqlite":
        where = str(engine.settings.demo_source_path)
        with sqlite3.connect(where) as source:
            source.execute("pragma journal_mode=wal")
    script = CONNECTION + body
    arguments = [engine.source_kind, where, str(PROFILES), str(writes), str(seed)]
    writer = subprocess.Popen([sys.executable, "-c", script, *arguments], stderr=subprocess.PIPE)
    jobs = []
    try:
        while writer.poll() is None:
            jobs.append(engine.run())
    finally:
        _, errors = writer.communicate(timeout=60)
    assert writer.returncode == 0, errors.decode()
    return jobs
