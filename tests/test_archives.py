"""Archives and compressed files: members are scanned in memory with nested provenance,
and bombs (ratio, size, nesting) are stopped and counted, never expanded."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from conftest import fail_after, run_cli

from scanner.models import ScanStats
from scanner.rules import load_rules
from scanner.scan import ScanOptions, scan_files
from scanner.sources.archives import ArchiveLimits, archive_kind, iter_members

DATA = Path(__file__).parent / "data"
CUSTOM = str(DATA / "custom-rules.toml")
TOKEN = "acmedesk_Q7rV2lMz8KpW4nXt9BcD"
LEAK = f"ACME_TOKEN={TOKEN}\n".encode()
MB = 1024 * 1024


@pytest.fixture(autouse=True)
def no_hang():
    with fail_after(30, "archive test (a bomb went off?)"):
        yield


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def scan(root: Path, **options):
    rules = load_rules([DATA / "custom-rules.toml"], bundled=False)
    return scan_files([str(root)], rules, ScanOptions(jobs=1, host_root=str(root), **options))


def located(findings) -> list[tuple[str, int]]:
    return sorted((f.path.removeprefix("/"), f.location.line) for f in findings)


def test_every_format_is_scanned_inside_with_nested_provenance(tmp_path, write, monkeypatch):
    inner_zip = zip_bytes({"config/app.properties": b"# app\n" + LEAK})
    write("backup.tar.gz", tar_bytes({"home/u/.env": b"X=1\n" + LEAK, "home/u/tools.zip": inner_zip}))
    write("plain.tar", tar_bytes({"etc/app.conf": LEAK}, mode="w"))
    write("lib.jar", zip_bytes({"META-INF/creds.txt": LEAK}))
    write("pkg.whl", zip_bytes({"pkg/settings.py": b"t = '" + TOKEN.encode() + b"'\n"}))
    write("logs/app.log.gz", gzip.compress(b"line\n" * 3 + LEAK))
    write("dump.sql.bz2", bz2.compress(LEAK))
    write("notes.txt.xz", lzma.compress(LEAK))
    write("old.tgz", tar_bytes({"deep.tar.bz2": tar_bytes({"x/.env": LEAK}, mode="w:bz2")}))
    monkeypatch.chdir(tmp_path)
    findings, stats = scan_files(["."], load_rules([DATA / "custom-rules.toml"], bundled=False),
                                 ScanOptions(jobs=1))
    assert located(findings) == [
        ("backup.tar.gz!home/u/.env", 2),
        ("backup.tar.gz!home/u/tools.zip!config/app.properties", 2),
        ("dump.sql.bz2!dump.sql", 1),
        ("lib.jar!META-INF/creds.txt", 1),
        ("logs/app.log.gz!app.log", 4),
        ("notes.txt.xz!notes.txt", 1),
        ("old.tgz!deep.tar.bz2!x/.env", 1),
        ("pkg.whl!pkg/settings.py", 1),
        ("plain.tar!etc/app.conf", 1),
    ]
    assert {f.provenance.kind for f in findings} == {"archive"}
    assert dict(next(f for f in findings if f.path.endswith("home/u/.env")).provenance.extra)["place"] == "dotenv"
    assert stats.skipped == {}
    assert stats.files_scanned == 9


def test_zip_bomb_is_harmless_and_counted(tmp_path, write):
    zeros = b"\0" * (200 * MB)  # deflates about 1000:1
    bomb = zip_bytes({"bomb.bin": zeros, "honest/.env": LEAK})
    del zeros
    write("bomb.zip", bomb)
    write("nested.zip", zip_bytes({f"layer{i}.zip": bomb for i in range(4)}))
    started = time.perf_counter()
    findings, stats = scan(tmp_path, max_file_size=300 * MB)
    assert time.perf_counter() - started < 15
    assert located(findings) == [("bomb.zip!honest/.env", 1)] + [
        (f"nested.zip!layer{i}.zip!honest/.env", 1) for i in range(4)]
    assert stats.skipped["archive-limit"] == 5
    assert any("ratio" in note for note in stats.notes)


def test_expanded_size_budget_stops_an_archive(tmp_path, write):
    import os

    members = {f"part{i}.txt": os.urandom(MB).hex().encode()[:MB] for i in range(6)}  # 1:1-ish, 6 MB
    write("big.tar.gz", tar_bytes(members))
    _, stats = scan(tmp_path, archive_max_bytes=3 * MB)
    assert stats.skipped == {"archive-limit": 1}
    assert stats.files_scanned <= 3


def test_nesting_deeper_than_the_limit_is_counted(tmp_path, write):
    data = zip_bytes({".env": LEAK})
    for level in range(4, 0, -1):
        data = zip_bytes({f"level{level}.zip": data})
    write("russian.zip", data)  # russian.zip!level1.zip!...!level4.zip!.env: 5 archives deep
    findings, stats = scan(tmp_path, archive_depth=3)
    assert findings == []
    assert stats.skipped == {"archive-limit": 1}
    assert stats.skipped_paths["archive-limit"] == ["/russian.zip!level1.zip!level2.zip!level3.zip"]
    findings, stats = scan(tmp_path, archive_depth=5)
    assert len(findings) == 1 and findings[0].path.endswith("level4.zip!.env")


def test_large_members_corrupt_and_lying_archives(tmp_path, write):
    write("members.zip", zip_bytes({"big.txt": b"a" * 5000, "small/.env": LEAK}, method=zipfile.ZIP_STORED))
    write("broken.zip", b"PK\x03\x04 this is not really a zip")
    write("truncated.tar.gz", tar_bytes({"a/.env": LEAK * 2000})[:200])
    findings, stats = scan(tmp_path, max_file_size=4096)
    assert located(findings) == [("members.zip!small/.env", 1)]
    assert stats.skipped == {"too-large": 2, "archive-error": 2}  # the truncated tar's header came through
    assert sorted(stats.skipped_paths["too-large"]) == ["/members.zip!big.txt", "/truncated.tar.gz!a/.env"]
    assert sorted(stats.skipped_paths["archive-error"]) == ["/broken.zip", "/truncated.tar.gz"]


def test_no_archives_flag_treats_them_as_binary(tmp_path, write):
    write("lib.jar", zip_bytes({"creds.txt": LEAK}))
    result = run_cli("dir", ".", "--rules", CUSTOM, "--no-config", "--no-archives", "-f", "json", cwd=tmp_path)
    assert result.returncode == 0
    assert json.loads(result.stdout)["summary"]["skipped"] == {"binary": 1}
    result = run_cli("dir", ".", "--rules", CUSTOM, "--no-config", "-f", "sarif", cwd=tmp_path)
    assert result.returncode == 1
    [res] = json.loads(result.stdout)["runs"][0]["results"]
    assert res["properties"]["archiveMember"] == "creds.txt"
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "lib.jar"


@pytest.mark.parametrize(("name", "kind"), [
    ("a.tar.gz", "tar"), ("a.TGZ", "tar"), ("a.tar", "tar"), ("a.jar", "zip"), ("a.whl", "zip"),
    ("a.log.gz", "gz"), ("a.bz2", "bz2"), ("a.xz", "xz"), ("a.gzip", None), (".gz", None), ("a.py", None),
])
def test_archive_kind(name, kind):
    assert archive_kind(name) == kind


def test_members_stream_from_a_file_object():
    stats = ScanStats()
    source = io.BytesIO(tar_bytes({"a/.env": LEAK, "b/readme": b"hi\n"}))
    members = list(iter_members(source, "x.tar.gz", "x.tar.gz", ArchiveLimits(max_member_bytes=MB), stats))
    assert members == [("x.tar.gz!a/.env", LEAK), ("x.tar.gz!b/readme", b"hi\n")]
    assert stats.notes == {"archives opened": 1}


def test_a_file_named_like_an_archive_that_is_not_one_is_scanned_as_text(tmp_path, write):
    write("var/lib/dpkg/alternatives/psql.1.gz", "manual\n/usr/bin/psql\n" + LEAK.decode())
    findings, stats = scan(tmp_path)
    assert located(findings) == [("var/lib/dpkg/alternatives/psql.1.gz", 3)]
    assert findings[0].provenance.kind == "file" and stats.skipped == {}
