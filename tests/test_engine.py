"""Engine behaviour on synthetic inputs: windows, long lines, decoding, backends."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest

from scanner.engine import Engine
from scanner.models import Blob, Provenance, ScanStats
from scanner.prefilter import JOIN_MAX_BYTES, PurePrefilter, hyperscan_available, make_prefilter
from scanner.rules import load_rules
from scanner.scan import BlobScanner, ScanOptions

DATA = Path(__file__).parent / "data"
TOKEN = "acmedesk_Q7rV2lMz8KpW4nXt9BcD"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_rules([DATA / "custom-rules.toml"], bundled=False))


def test_finds_secret_with_line_and_column(engine):
    data = f"a = 1\n\ntoken = '{TOKEN}'\n".encode()
    [m] = engine.scan(data)
    assert (m.rule_id, m.secret) == ("acme-desk-token", TOKEN)
    assert (m.location.line, m.location.column) == (3, 10)
    assert m.location.end_column == 10 + len(TOKEN)
    assert m.entropy > 3.0 and 0 < m.confidence <= 1


def test_crlf_and_columns_count_characters_not_bytes(engine):
    data = f"x = 'é'\r\nnom = 'ü' ; t = '{TOKEN}'\r\n".encode("utf-8")
    [m] = engine.scan(data)
    assert m.location.line == 2
    assert m.location.column == len("nom = 'ü' ; t = '") + 1
    assert not m.line_text.endswith("\r")


def test_secret_deep_inside_a_minified_line_is_found_with_bounded_snippet(engine):
    data = b"var a=1;" * 200_000 + f"t='{TOKEN}';".encode() + b"var b=2;" * 200_000
    [m] = engine.scan(data)
    assert m.secret == TOKEN and m.location.line == 1
    assert TOKEN in m.line_text and len(m.line_text) <= 500


def test_prefilter_miss_means_no_regex_work(engine):
    assert engine.scan(b"nothing to see here\n" * 1000) == []


def test_filters_drop_low_entropy_and_placeholders(engine):
    assert engine.scan(b"acmedesk_aaaaaaaaaaaaaaaaaaaa") == []


def test_base64_value_in_kubernetes_secret_is_decoded_and_points_at_encoded_line(engine):
    encoded = base64.b64encode(f"token={TOKEN}".encode()).decode()
    data = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: desk\ndata:\n  config: {encoded}\n".encode()
    [m] = engine.scan(data)
    assert m.secret == TOKEN and m.decoded == "base64"
    assert m.location.line == 6 and m.location.column == len("  config: ") + 1


BACKENDS = ["pure", *(["hyperscan"] if hyperscan_available() else [])]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("marker", ["kind: Secret", '"kind": "Secret"', 'kind: "Secret"', "KIND: SECRET"])
@pytest.mark.parametrize("padding, secret_manifest", [(0, True), (65536 - 40, True), (65536 - 5, False), (70000, False)])
def test_a_secret_manifest_is_told_by_a_marker_within_its_first_64_kb(backend, marker, padding, secret_manifest):
    """Every ``key: base64`` entry of a Secret is decoded, whatever the key; the manifest's
    marker must lie wholly within the first 64 kB (one that straddles it does not count)."""
    engine = Engine(load_rules([DATA / "custom-rules.toml"], bundled=False), backend=backend)
    encoded = base64.b64encode(f"token={TOKEN}".encode()).decode()
    head = b"#" * (padding - 1) + b"\n" if padding else b""
    data = head + f"{marker}\ndata:\n  config: {encoded}\n".encode()
    found = engine.scan(data)
    assert [(m.secret, m.decoded) for m in found] == ([(TOKEN, "base64")] if secret_manifest else [])


def test_base64_credential_field_outside_kubernetes_is_decoded(engine):
    encoded = base64.b64encode(TOKEN.encode()).decode()
    [m] = engine.scan(f"desk_token: {encoded}\n".encode())
    assert m.secret == TOKEN and m.decoded == "base64"


def test_base64_of_binary_is_not_rescanned(engine):
    encoded = base64.b64encode(bytes(range(256))).decode()
    assert engine.scan(f"kind: Secret\ndata:\n  blob: {encoded}\n".encode()) == []


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan not installed on this platform")
def test_hyperscan_and_pure_prefilters_report_the_same_offsets():
    keywords = ["password", "tws_", "acct", "-----begin"]
    data = b"Password=1 TWS_USERID acct ACCT -----BEGIN PRIVATE\npasswordpassword tws_tws_"
    assert make_prefilter(keywords, "hyperscan").find(data) == PurePrefilter(keywords).find(data)


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan not installed on this platform")
def test_one_prefilter_call_for_many_blobs_gives_each_blob_its_own_hits():
    """A batch is scanned joined by NUL bytes: hits must land in the right blob, at offsets
    relative to it, and a keyword must never match across two blobs."""
    keywords = ["password", "tws_", "acct", "-----begin"]
    large = b"acct " + b"x" * JOIN_MAX_BYTES + b" password"  # scanned on its own, between joined ones
    blobs = [b"Password=1 TWS_USERID", b"", b"pass", b"word acct", b"x" * 5000 + b"ACCT", large, b"tws_",
             b"nothing", b"-----BEGIN"]
    hyperscan = make_prefilter(keywords, "hyperscan")
    expected = [PurePrefilter(keywords).find(blob) for blob in blobs]
    assert hyperscan.find_many(blobs) == expected
    assert expected[2] == {} and expected[3] == {2: [5]}  # "pass" + "word" is no "password"
    assert expected[5] == {2: [0], 0: [len(large) - 8]} and expected[6] == {1: [0]}


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan not installed on this platform")
def test_presence_keywords_are_reported_for_every_blob_of_a_batch():
    """A keyword read only for its presence (``first_only``: Hyperscan reports its first match
    per call) must still be reported for each blob of a joined batch that holds it."""
    keywords = ["ib_async", "password", "ib_insync"]
    blobs = [b"nothing", b"import ib_async", b"password", b"from IB_ASYNC import IB; ib_insync",
             b"x" * JOIN_MAX_BYTES + b"ib_async", b"", b"ib_insync ib_async"]
    first_only = frozenset({0, 2})
    expected = [PurePrefilter(keywords, first_only=first_only).find(blob) for blob in blobs]
    assert make_prefilter(keywords, "hyperscan", first_only=first_only).find_many(blobs) == expected
    assert [sorted(hits) for hits in expected] == [[], [0], [1], [0, 2], [0], [], [0, 2]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_file_of_a_batch_that_names_a_client_library_gets_its_client_call_findings(backend):
    """The AST judges client calls wherever a file names an IBKR client library: each file of
    a batch that does must get its finding, not only the first (Hyperscan used to report the
    library names for the first file of each prefilter call only)."""
    code = b"from ib_async import IB\nib = IB()\nib.connect('127.0.0.1', 7496, 17, 4, False, 'DU7305518')\n"
    blobs = [Blob(code, Provenance("file", f"live{i}.py")) for i in range(3)]
    found = BlobScanner(load_rules(), ScanOptions(backend=backend)).scan_many(blobs, ScanStats())
    assert [[(f.rule_id, f.secret) for f in each] for each in found] == [
        [("ibkr-client-literal-account", "DU7305518")]] * 3


def test_a_batch_scan_of_the_demo_tree_equals_file_by_file_scans(tmp_path):
    """``scan_many`` (one prefilter call per batch) must find exactly what ``scan_blob`` finds."""
    scanner = BlobScanner(load_rules(), ScanOptions())
    demo = sorted(p for p in (DATA.parents[1] / "fixtures" / "demo").rglob("*") if p.is_file())
    blobs = [Blob(p.read_bytes(), Provenance(kind="file", path=p.name)) for p in demo]
    one_by_one = [scanner.scan_blob(blob, ScanStats()) for blob in blobs]
    assert any(one_by_one)
    assert scanner.scan_many(blobs, ScanStats()) == one_by_one


def test_repeated_secret_in_one_file_gets_distinct_stable_fingerprints(tmp_path):
    from scanner.findings import to_findings
    from scanner.models import Provenance

    rules = load_rules([DATA / "custom-rules.toml"], bundled=False)
    engine = Engine(rules)
    by_id = {r.id: r for r in rules}
    prov = Provenance(kind="file", path="a.py")
    first = to_findings(engine.scan(f"t = '{TOKEN}'\nu = '{TOKEN}'\n".encode()), by_id, prov)
    moved = to_findings(engine.scan(f"# new line\n\nt = '{TOKEN}'\nu = '{TOKEN}'\n".encode()), by_id, prov)
    assert len({f.fingerprint for f in first}) == 2
    assert [f.fingerprint for f in first] == [f.fingerprint for f in moved]


def test_extra_keywords_report_the_same_hits_as_their_own_prefilter():
    """The AST gate reads its keyword hits from the engine's pass; they must equal a pass of its own."""
    extra = ["password", "token", "ibkr", "acmedesk_"]
    shared = Engine(load_rules([DATA / "custom-rules.toml"], bundled=False), extra_keywords=extra)
    data = f"IBKR_TOKEN = '{TOKEN}'\npassword: x\ntoken token\n".encode()
    hits: dict[int, list[int]] = {}
    shared.scan(data, extra_hits=hits)
    assert hits == make_prefilter(extra, "pure").find(data)


@pytest.mark.parametrize("backend", ["pure"] + (["hyperscan"] if hyperscan_available() else []))
def test_presence_only_keywords_report_their_first_occurrence(backend):
    """Library names only decide whether a file may be parsed: a library's own history names
    itself hundreds of thousands of times, and each reported offset costs a callback."""
    rules = load_rules([DATA / "custom-rules.toml"], bundled=False)
    engine = Engine(rules, backend=backend, extra_keywords=["ib_insync", "password"],
                    presence_keywords={"ib_insync"})
    data = b"import ib_insync\n" * 50 + b"password password\n"
    hits: dict[int, list[int]] = {}
    engine.scan(data, extra_hits=hits)
    assert hits[0] == [7]
    assert len(hits[1]) == 2
