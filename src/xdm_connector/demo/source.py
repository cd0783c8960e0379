"""The demo source: a SQLite database of profiles shaped like Adobe Campaign's.

``create_demo_source(path)`` builds it once (in a temporary file, renamed into place, so an
existing file is always complete and is left alone). Two tables:

- ``postalAddress``: ``id``, ``line1``, ``line2``, ``city``, ``zipCode``, ``stateCode``,
  ``countryCode``, ``addrDefined`` (0/1), ``addrQuality`` (the Campaign extension's codes);
- ``profile``: ``id``, ``email``, ``firstName``, ``middleName``, ``lastName``,
  ``birthDate`` (``DATE``, text ``YYYY-MM-DD``), ``gender`` (``male``, ``female``,
  ``unknown``), ``mobilePhone``, ``phone``, ``blackList``, ``blackListEmail``,
  ``blackListMobile`` (``BOOLEAN``, 0/1), ``postalAddress_id``, ``created`` and
  ``lastModified`` (``DATETIME``, text ``YYYY-MM-DD HH:MM:SS.ffffff``), indexed on
  ``(lastModified, id)``.

The data is deterministic for a seed: names from small lists, emails from the names, about
2 % of profiles without a mobile phone, 40 % without a middle name, some without a birth
date or an address, and runs of profiles sharing one ``lastModified`` (as a bulk update
leaves them). ``insert_demo_rows`` appends rows in chunks, fast enough for benchmarks of a
million profiles and more.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from itertools import islice
from pathlib import Path

SCHEMA = """
CREATE TABLE postalAddress (
    id INTEGER PRIMARY KEY,
    line1 VARCHAR(80),
    line2 VARCHAR(80),
    city VARCHAR(50),
    zipCode VARCHAR(10),
    stateCode VARCHAR(10),
    countryCode VARCHAR(2),
    addrDefined BOOLEAN NOT NULL DEFAULT 0,
    addrQuality VARCHAR(40)
);
CREATE TABLE profile (
    id INTEGER PRIMARY KEY,
    email VARCHAR(128),
    firstName VARCHAR(50),
    middleName VARCHAR(50),
    lastName VARCHAR(50),
    birthDate DATE,
    gender VARCHAR(10) NOT NULL DEFAULT 'unknown',
    mobilePhone VARCHAR(32),
    phone VARCHAR(32),
    blackList BOOLEAN NOT NULL DEFAULT 0,
    blackListEmail BOOLEAN NOT NULL DEFAULT 0,
    blackListMobile BOOLEAN NOT NULL DEFAULT 0,
    postalAddress_id INTEGER REFERENCES postalAddress(id),
    created DATETIME NOT NULL,
    lastModified DATETIME NOT NULL
);
"""
INDEXES = "CREATE INDEX profile_lastModified_id ON profile (lastModified, id);"

FIRST_NAMES = {
    "female": ("Alice", "Chloe", "Emma", "Hana", "Inès", "Julia", "Léa", "Maria", "Nora", "Sofia"),
    "male": ("Adam", "Bruno", "David", "Ethan", "Hugo", "Jonas", "Liam", "Louis", "Noah", "Omar"),
}
LAST_NAMES = (
    "Bernard", "Dubois", "Garcia", "Jensen", "Kowalski", "Martin", "Müller", "Nguyen", "O'Brien",
    "Petit", "Rossi", "Schmidt", "Silva", "Smith", "Tanaka", "Weber",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "mail.example.net", "corp.example")
STREETS = ("Rue de la Paix", "Main Street", "Baker Street", "Hauptstraße", "Via Roma", "Elm Road")
CITIES = (
    ("Paris", "75", "FR", "750"), ("Lyon", "69", "FR", "690"), ("London", "LND", "GB", "SW1"),
    ("Berlin", "BE", "DE", "101"), ("Rome", "RM", "IT", "001"), ("San Jose", "CA", "US", "951"),
)  # fmt: skip
QUALITY_CODES = (
    "fully_recognized_street", "partially_recognized_street", "unknown_street", "empty_street",
    "unknown_town_postal_code", "incomplete_address",
)  # fmt: skip
_ALL_FIRST = FIRST_NAMES["female"] + FIRST_NAMES["male"]
_GENDERS = ("female",) * 12 + ("male",) * 12 + ("unknown",)  # 48 %, 48 %, 4 %
START = dt.datetime(2023, 1, 1, 8, 0, 0)
BIRTH_START = dt.date(1940, 1, 1)
_CHUNK = 20_000


def create_demo_source(path: Path, *, profiles: int = 10_000, seed: int = 44) -> None:
    """Build the demo source at ``path`` unless a (complete) file is already there."""
    path = Path(path)
    if path.is_file() and path.stat().st_size > 0:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(f".{path.name}.{os.getpid()}.building")
    building.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(building)) as conn:
            conn.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
            conn.executescript(SCHEMA)
            insert_demo_rows(conn, profiles=profiles, seed=seed)
            conn.executescript(INDEXES)  # built once, after the rows: quicker
        os.replace(building, path)
    finally:
        building.unlink(missing_ok=True)


def insert_demo_rows(
    conn: sqlite3.Connection, *, profiles: int, seed: int = 44, first_id: int = 1
) -> None:
    """Insert ``profiles`` profiles (ids from ``first_id``) and their addresses, in chunks."""
    rows = profile_rows(profiles, seed=seed, first_id=first_id)
    while chunk := list(islice(rows, _CHUNK)):
        addresses = [address for address, _ in chunk if address is not None]
        conn.executemany("INSERT INTO postalAddress VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", addresses)
        conn.executemany(
            "INSERT INTO profile VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [profile for _, profile in chunk],
        )
        conn.commit()


Row = tuple[object, ...]


def profile_rows(
    count: int, *, seed: int = 44, first_id: int = 1
) -> Iterator[tuple[Row | None, Row]]:
    """``(postalAddress row or None, profile row)`` for ``count`` profiles, in id order.

    Draws with ``random()`` only (``int(rand() * n)``), the quick way for millions of rows.
    """
    rand = random.Random(f"{seed}:{first_id}").random
    locals_ = {
        (first, last): f"{first}.{last}".lower().replace("'", "")
        for first in _ALL_FIRST
        for last in LAST_NAMES
    }
    females, males, genders = FIRST_NAMES["female"], FIRST_NAMES["male"], _GENDERS
    previous = START
    for profile_id in range(first_id, first_id + count):
        gender = genders[int(rand() * len(genders))]
        names = males if gender == "male" else females
        first = names[int(rand() * len(names))]
        middle = names[int(rand() * len(names))] if rand() < 0.6 else None
        last = LAST_NAMES[int(rand() * len(LAST_NAMES))]
        created = START + dt.timedelta(minutes=profile_id, microseconds=int(rand() * 1e6))
        modified = created + dt.timedelta(seconds=int(rand() * 30 * 86_400))
        if rand() < 0.3 and previous >= created:  # updated together with the previous one
            modified = previous
        previous = modified
        address = _address(rand, profile_id) if rand() < 0.95 else None
        birth = BIRTH_START + dt.timedelta(days=int(rand() * 365 * 65))
        profile = (
            profile_id,
            f"{locals_[first, last]}{profile_id}@{DOMAINS[int(rand() * len(DOMAINS))]}",
            first,
            middle,
            last,
            birth.isoformat() if rand() < 0.97 else None,
            gender,
            f"+1555{int(rand() * 1e7):07d}" if rand() < 0.98 else None,
            f"+1444{int(rand() * 1e7):07d}" if rand() < 0.5 else None,
            int(rand() < 0.03),
            int(rand() < 0.08),
            int(rand() < 0.05),
            None if address is None else profile_id,
            created.isoformat(" ", "microseconds"),
            modified.isoformat(" ", "microseconds"),
        )
        yield address, profile


def _address(rand: Callable[[], float], address_id: int) -> Row:
    city, state, country, zip_prefix = CITIES[int(rand() * len(CITIES))]
    defined = rand() < 0.9
    qualities = QUALITY_CODES[:3] if defined else QUALITY_CODES[3:]
    return (
        address_id,
        f"{1 + int(rand() * 199)} {STREETS[int(rand() * len(STREETS))]}",
        f"Apt {1 + int(rand() * 39)}" if rand() < 0.2 else None,
        city,
        f"{zip_prefix}{int(rand() * 100):02d}",
        state,
        country,
        int(defined),
        qualities[int(rand() * len(qualities))],
    )
