"""Counting the records of a JSON Lines file: by newlines, as line by line would."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xdm_connector.destinations import base
from xdm_connector.destinations.base import file_rows

LINES = st.lists(
    st.one_of(
        st.just(b'{"a": 1}'),
        st.just(b""),
        st.just(b"  "),
        st.just(b"\t{}"),
        st.just(b'{"b": "x y"}\r'),
        st.binary(max_size=12).filter(lambda line: b"\n" not in line),
    ),
    max_size=40,
)


def _line_by_line(content: bytes) -> int:
    return sum(1 for line in content.split(b"\n") if line.strip())


@given(lines=LINES, last_newline=st.booleans(), chunk=st.sampled_from([1, 2, 7, 1 << 20]))
def test_records_are_the_non_blank_lines(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], last_newline: bool, chunk: int
) -> None:
    content = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    path = tmp_path_factory.mktemp("rows") / "part-00000.jsonl"
    path.write_bytes(content)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base, "_CHUNK_BYTES", chunk)
        assert file_rows(path) == _line_by_line(content)


def test_a_written_file_is_counted_by_its_newlines(tmp_path: Path) -> None:
    path = tmp_path / "part-00000.jsonl"
    path.write_bytes(b'{"_id": "1"}\n{"_id": "2"}\n{"_id": "3"}')
    assert file_rows(path) == 3
    assert file_rows(tmp_path / "other.csv") is None


def test_bytes_that_are_not_utf8_are_counted_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "part-00000.jsonl"
    content = b'{"a": "\xc3"}\n\xff\xfe\n\xe2\x82\n\n\xf0\x9f\x98\n'
    path.write_bytes(content)
    assert file_rows(path) == _line_by_line(content) == 4
