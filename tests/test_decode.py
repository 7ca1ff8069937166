"""Text decoding and the fuzz test: no input may raise out of the engine."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from scanner.decode import BinaryContent, prepare
from scanner.engine import Engine
from scanner.rules import load_rules

TOKEN = "acmedesk_Q7rV2lMz8KpW4nXt9BcD"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_bom_encodings_are_found(codec):
    raw = f"# note\ntoken = '{TOKEN}'\n".encode(codec)
    if codec == "utf-16-be":
        raw = b"\xfe\xff" + raw
    prepared = prepare(raw)
    engine = Engine(load_rules([Path(__file__).parent / "data" / "custom-rules.toml"], bundled=False))
    [m] = engine.scan(prepared.data, encoding=prepared.encoding)
    assert m.secret == TOKEN and m.location.line == 2


def test_latin1_fallback_is_noted():
    prepared = prepare("café = 1\n".encode("latin-1"))
    assert prepared.encoding == "latin-1" and prepared.note


def test_nul_bytes_mean_binary():
    with pytest.raises(BinaryContent):
        prepare(b"\x7fELF\x00\x00\x01")


def test_fuzz_random_bytes_never_raise():
    rules = load_rules()
    engine = Engine(rules)
    rng = random.Random(1234)
    alphabet = b"password= token:secret kind: Secret\n\"'${}=/+ABCxyz0123456789\x00\xff\xfe"
    for _ in range(400):
        n = rng.randrange(0, 3000)
        if rng.random() < 0.5:
            raw = bytes(rng.randrange(256) for _ in range(n))
        else:
            raw = bytes(rng.choice(alphabet) for _ in range(n))
        try:
            prepared = prepare(raw)
        except BinaryContent:
            continue
        engine.scan(prepared.data, "fuzz.txt", encoding=prepared.encoding)
