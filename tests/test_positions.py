"""Byte ranges to line/column locations: counting newlines (a blob's first few locates) and the
table of line starts (later ones) must give the same answers."""
from __future__ import annotations

import random

import pytest

from scanner import positions
from scanner.positions import Positions

TEXTS = [
    b"",
    b"one line, no newline",
    b"\n\n\n",
    b"a\nbb\n\nccc\r\nd\xc3\xa9j\xc3\xa0 vu\nlast",
    b"trailing newline\n",
    "ünïcödé = 'x'\npassword = \"Zq9-Lk2m\"\n\tTOKEN=abc\n".encode(),
    b"latin-1 \xe9\xe8 bytes\nsecond\n",
]


@pytest.mark.parametrize("data", TEXTS)
def test_counting_and_the_line_table_locate_every_range_alike(data, monkeypatch):
    ranges = [(start, end) for start in range(len(data) + 1) for end in range(start, min(len(data), start + 12) + 1)]
    counted = []
    for start, end in ranges:  # a fresh Positions per range: every call counts
        counted.append(Positions(data).locate(start, end))
    table = Positions(data)
    table.starts  # noqa: B018 - built first: every call uses it
    assert [table.locate(start, end) for start, end in ranges] == counted


def test_a_blob_switches_to_the_line_table_after_a_few_locates():
    rng = random.Random(7)
    data = b"".join(rng.choice([b"x", b"yy ", b"\n", b"\xc3\xa9"]) for _ in range(5000))
    spans = sorted((a, min(len(data), a + rng.randrange(40))) for a in rng.sample(range(len(data)), 50))
    one = Positions(data)
    answers = [one.locate(a, b) for a, b in spans]
    assert one._starts is not None  # noqa: SLF001 - the table was built after COUNTED_LOCATES calls
    assert answers == [Positions(data).locate(a, b) for a, b in spans]
    assert positions.COUNTED_LOCATES < len(spans)
