"""Writers that change the demo source while exports run, each in a process of its own:
two SQLite libraries in one process (Python's and the ADBC driver's) do not share their
file locks. On MariaDB they write through PyMySQL, autocommitted.

A writer is ``CONNECTION`` then its own body: ``kind, where, profiles, writes`` from its
arguments, ``chooser`` (seeded), ``next_id`` (the next free key), ``stamp`` (an audit value
as the source stores it), ``execute`` (``?`` marks) and ``pace``, which its loop calls
before each write: the writes come in ``ROUNDS`` rounds, each begun once an export has
started, so that at least ``ROUNDS`` exports run while it writes however slow they are.
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


def pace(write):
    if write % max(1, writes // ROUNDS) == 0:
        sys.stdin.readline()  # an export has started: write the next round during it
"""
ROUNDS = 4
"""Rounds of a writer's writes, each begun during an export of its own."""


def exports_during(engine: Engine, body: str, *, writes: int, seed: int) -> list[Job]:
    """The jobs run one after another while a writer (``CONNECTION`` and ``body``) makes
    ``writes`` writes; it must end without an error."""
    where = engine.source_url
    if engine.source_kind == "sqlite":
        where = str(engine.settings.demo_source_path)
        with sqlite3.connect(where) as source:
            source.execute("pragma journal_mode=wal")
    script = f"ROUNDS = {ROUNDS}\n" + CONNECTION + body
    arguments = [engine.source_kind, where, str(PROFILES), str(writes), str(seed)]
    writer = subprocess.Popen(
        [sys.executable, "-c", script, *arguments], stdin=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert writer.stdin is not None
    jobs = []
    try:
        while writer.poll() is None:
            try:  # the writer may begin a round: this export runs while it writes
                writer.stdin.write(b"\n")
                writer.stdin.flush()
            except BrokenPipeError:
                break  # it has just ended
            jobs.append(engine.run())
    finally:
        _, errors = writer.communicate(timeout=60)
    assert writer.returncode == 0, errors.decode()
    return jobs
