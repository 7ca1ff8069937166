#!/usr/bin/env python3
"""Benchmark a whole-machine scan: brokerscan ``dir --root`` vs gitleaks ``dir`` vs Kingfisher.

The "instance" is a directory that looks like a cloud machine's disk: system files copied
from this machine (``/etc``, ``/var/lib``, ``/usr/...``: executables, libraries, man pages
as ``.gz``, headers, Python packages) up to ``--size-mb``, then synthetic IBKR credentials
planted where they live on a trading host (shell history, IBC ``config.ini``, ``.env``,
docker-compose, systemd unit, crontab, cloud-init user data, Jupyter checkpoint, ~/Jts,
IBeam) and inside archives (``.tar.gz``, ``.zip``, ``.jar``, a zip inside a tgz, ``.gz``,
``.bz2``, ``.xz``), plus ``--plants`` more in ordinary text files. Values are random,
generated at bench time; the manifest beside the tree says where each one is.

    python bench/bench_instance.py                          # ~2 GB, 2 rounds, all tools
    python bench/bench_instance.py --size-mb 500 --tools brokerscan,kingfisher --rounds 1

Not a test: it prints wall time, MB/s, CPU, peak RSS (whole process tree) and planted
recall per tool and per credential kind, measured as ``bench_dir.py`` does (see README).
"""
from __future__ import annotations

import argparse
import bz2
import gzip
import io
import json
import lzma
import os
import random
import shutil
import stat
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

if __package__:  # ``python -m bench.bench_instance`` from the project root
    from . import _corpus as corpus
    from . import bench_dir
else:  # ``python bench/bench_instance.py``
    import _corpus as corpus  # type: ignore[no-redef]
    import bench_dir  # type: ignore[no-redef]

MB = corpus.MB
INSTANCE_FORMAT = 1  # bump when the layout or the plants change, so cached trees are rebuilt
# Copied in this order until the size is reached: config first, then the bulk of a disk.
SYSTEM_SOURCES = ("/etc", "/var/lib/dpkg", "/var/lib/apt", "/usr/bin", "/usr/sbin", "/usr/include",
                  "/usr/share", "/usr/local", "/usr/lib")
PSEUDO = ("proc", "sys", "dev", "run")  # present and empty in a snapshot, as on a real one
LOGIN = "tradr7"  # the synthetic IBKR user name beside the planted secrets

Content = Callable[[str], str]  # credential line -> file text


def _wrap(before: str, after: str = "") -> Content:
    return lambda line: before + line + "\n" + after


# (path in the tree, credential kind, file text around the credential line, mode). A path with
# "!" is a member: "archive!member" (nested: "outer!inner.zip!member").
PLACES: tuple[tuple[str, str, Content, int], ...] = (
    ("home/trader/.bash_history", "tws-password",
     _wrap("cd ~/ibc\nls -la\nexport ", "./gatewaystart.sh -inline\nhtop\n"), 0o600),
    ("home/trader/.python_history", "account-id",
     _wrap("from ib_async import IB\nib = IB()\n", "ib.connect('127.0.0.1', 4002, clientId=1)\n"), 0o600),
    ("home/trader/ibc/config.ini", "ibc-password",
     _wrap(f"# IBC configuration\nIbLoginId={LOGIN}\n", "TradingMode=live\nAcceptIncomingConnectionAction=reject\n"),
     0o644),  # the classic mistake: world-readable
    ("home/trader/Jts/jts.ini", "account-id",
     _wrap("[IBGateway]\nWriteDebug=false\nTrustedIPs=127.0.0.1\n[Logon]\n", "Locale=en\n"), 0o644),
    ("home/trader/.ibeam/env.list", "ibeam-totp",
     _wrap(f"IBEAM_ACCOUNT={LOGIN}\n", "IBEAM_GATEWAY_BASE_URL=https://localhost:5000\n"), 0o600),
    ("srv/ibbot/.env", "tws-password", _wrap(f"TWS_USERID={LOGIN}\n", "TWS_PORT=4002\n"), 0o644),
    ("srv/ibbot/docker-compose.yml", "tws-password",
     lambda line: "services:\n  ib-gateway:\n    image: ghcr.io/gnzsnz/ib-gateway:stable\n"
                  f"    environment:\n      - TWS_USERID={LOGIN}\n      - {line}\n      - TRADING_MODE=live\n", 0o644),
    ("etc/systemd/system/ibgateway.service", "tws-password",
     lambda line: f"[Unit]\nDescription=IB Gateway\n\n[Service]\nUser=trader\nEnvironment={line}\n"
                  "ExecStart=/opt/ibc/gatewaystart.sh -inline\n\n[Install]\nWantedBy=multi-user.target\n", 0o644),
    ("var/spool/cron/crontabs/trader", "flex-token",
     lambda line: f"# m h dom mon dow command\n15 6 * * 1-5 curl -s '{line}' -o /home/trader/flex.xml\n", 0o600),
    ("var/lib/cloud/instance/user-data.txt", "ibeam-totp",
     lambda line: f"#cloud-config\nruncmd:\n  - echo '{line}' >> /etc/ibeam.env\n  - systemctl start ibeam\n", 0o600),
    ("home/trader/notebooks/.ipynb_checkpoints/fills-checkpoint.ipynb", "account-id",
     lambda line: '{\n "cells": [\n  {\n   "cell_type": "code",\n   "source": [\n'
                  f'    {json.dumps(line)}\n   ]\n  }}\n ]\n}}\n', 0o644),
    ("backups/home-trader.tar.gz!home/trader/.env", "tws-password",
     _wrap(f"TWS_USERID={LOGIN}\n", "TWS_PORT=4001\n"), 0o644),
    ("backups/home-trader.tar.gz!home/trader/ibc/config.ini", "ibc-password",
     _wrap(f"IbLoginId={LOGIN}\n", "TradingMode=paper\n"), 0o644),
    ("backups/ibeam-config.zip!.ibeam/env.list", "ibeam-totp", _wrap(f"IBEAM_ACCOUNT={LOGIN}\n"), 0o600),
    ("backups/old-bot.tgz!releases/bot-1.2.zip!bot/settings.py", "account-id",
     _wrap('"""Bot settings."""\nHOST = "127.0.0.1"\n', "PORT = 4002\n"), 0o644),
    ("opt/ibbot/lib/strategy.jar!config/ib.properties", "ibc-password",
     _wrap("ib.host=127.0.0.1\n", "ib.port=4002\n"), 0o644),
    ("var/log/flexbot/flex.log.gz!flex.log", "flex-token",
     _wrap("2024-05-02 06:15:01 INFO requesting statement\n2024-05-02 06:15:01 DEBUG GET ",
           "2024-05-02 06:15:03 INFO statement ready\n"), 0o644),
    ("home/trader/dumps/positions.sql.bz2!positions.sql", "account-id",
     _wrap("-- positions\nCREATE TABLE positions (sym text, qty int);\n", "INSERT INTO positions VALUES ('SPY', 10);\n"),
     0o600),
    ("home/trader/notes.txt.xz!notes.txt", "tws-password", _wrap("gateway restarts at 23:45 ET\n"), 0o600),
)


def bench_dir_default() -> Path:
    return Path(os.environ.get("BENCH_DIR", "/tmp/brokerscan-instance"))


# ---------------------------------------------------------------------------
# Building the instance
# ---------------------------------------------------------------------------

def copy_system_files(dest: Path, target_bytes: int) -> tuple[int, int]:
    """Regular files of ``SYSTEM_SOURCES`` (sorted, symlinks and unreadable files left out),
    copied with their modes under the same paths, until ``target_bytes``."""
    total = files = 0
    for source in SYSTEM_SOURCES:
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames.sort()
            for name in sorted(filenames):
                src = os.path.join(dirpath, name)
                try:
                    st = os.lstat(src)
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    out = dest / src.lstrip("/")
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, out, follow_symlinks=False)
                    os.chmod(out, stat.S_IMODE(st.st_mode))
                except OSError:
                    continue
                total += st.st_size
                files += 1
                if total >= target_bytes:
                    return total, files
    return total, files


def _member_bytes(text: str) -> bytes:
    return text.encode("utf-8")


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1714600000, 0o600
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _pack(outer: str, members: dict[str, bytes]) -> bytes:
    """The bytes of archive ``outer`` holding ``members`` (by the archive's suffix)."""
    lower = outer.lower()
    if lower.endswith((".tar.gz", ".tgz")):
        return _tar(members, "w:gz")
    if lower.endswith((".zip", ".jar")):
        return _zip(members)
    ((_, data),) = members.items()
    if lower.endswith(".gz"):
        return gzip.compress(data, mtime=0)
    if lower.endswith(".bz2"):
        return bz2.compress(data)
    if lower.endswith(".xz"):
        return lzma.compress(data)
    raise ValueError(f"no packer for {outer}")


def plant_places(root: Path, rng: random.Random) -> list[corpus.Plant]:
    """Write every ``PLACES`` entry (archives built in memory, nested ones inside out)."""
    plants: list[corpus.Plant] = []
    archives: dict[str, dict[str, bytes]] = {}  # outer path -> member -> bytes
    modes: dict[str, int] = {}
    for path, kind, content, mode in PLACES:
        line_text, value = corpus.make_credential(kind, rng)
        text = content(line_text)
        line = next(i for i, ln in enumerate(text.split("\n"), 1) if value in ln)
        plants.append(corpus.Plant(path, line, kind, value, line_text))
        parts = path.split("!")
        if len(parts) == 1:
            out = root / path
            out.parent.mkdir(parents=True, exist_ok=True)
            out.unlink(missing_ok=True)
            out.write_text(text, encoding="utf-8")
            out.chmod(mode)
            continue
        archives.setdefault(parts[0], {})
        modes[parts[0]] = mode
        if len(parts) == 2:
            archives[parts[0]][parts[1]] = _member_bytes(text)
        else:  # one nested level: outer!inner-archive!member
            inner = _pack(parts[1], {parts[2]: _member_bytes(text)})
            archives[parts[0]][parts[1]] = inner
    filler = (root / "etc" / "services")
    for outer, members in archives.items():
        if filler.is_file() and outer.endswith((".tar.gz", ".tgz", ".zip", ".jar")):
            members = {"etc/services": filler.read_bytes(), **members}
        out = root / outer
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        out.write_bytes(_pack(outer, members))
        out.chmod(modes[outer])
    for d in PSEUDO:
        (root / d).mkdir(exist_ok=True)
    (root / "etc" / "hostname").parent.mkdir(parents=True, exist_ok=True)
    (root / "etc" / "hostname").unlink(missing_ok=True)
    (root / "etc" / "hostname").write_text("ib-gateway-bench\n")
    return plants


def build_instance(bench_dir: Path, size_mb: int, plants: int, seed: int, rebuild: bool) -> corpus.Tree:
    spec = {"size_mb": size_mb, "plants": plants, "seed": seed, "format": INSTANCE_FORMAT}
    root, manifest = bench_dir / "tree", bench_dir / "manifest.json"
    if not rebuild:
        try:
            doc = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = {}
        if doc.get("spec") == spec and root.is_dir():
            planted = [corpus.Plant(**p) for p in doc["planted"]]
            print(f"reusing instance {root} ({doc['bytes'] / MB:.0f} MB, {doc['files']} files, {len(planted)} planted)")
            return corpus.Tree(root, manifest, int(doc["bytes"]), int(doc["files"]), planted)
    print(f"building instance {root}: {size_mb} MB of system files from {', '.join(SYSTEM_SOURCES)}")
    started = time.perf_counter()
    if root.exists():
        shutil.rmtree(root)
    manifest.unlink(missing_ok=True)
    root.mkdir(parents=True)
    copy_system_files(root, size_mb * MB)
    planted = corpus.plant_credentials(root, plants, seed) if plants else []  # before the places: no overlap
    planted += plant_places(root, random.Random(seed))
    total = files = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
                files += 1
    doc = {"spec": spec, "tree": str(root), "bytes": total, "files": files,
           "planted": [asdict(p) for p in sorted(planted, key=lambda p: (p.path, p.line))]}
    manifest.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"built in {time.perf_counter() - started:.0f} s: {total / MB:.0f} MB, {files} files, "
          f"{len(planted)} planted; manifest {manifest}")
    return corpus.Tree(root, manifest, total, files, planted)


# ---------------------------------------------------------------------------
# Tools and main
# ---------------------------------------------------------------------------

def instance_tools(names: Sequence[str], jobs: int | None, venv: Path | None = None) -> list[bench_dir.Tool]:
    """bench_dir's tools; brokerscan scans the tree as a machine (``--root``)."""
    tools = bench_dir.resolve_tools(names, jobs, venv)
    for tool in tools:
        if tool.name == "brokerscan" and tool.prefix is not None:
            prefix, extra = tool.prefix, (["--jobs", str(jobs)] if jobs else [])
            tool.command = lambda target, report, prefix=prefix, extra=extra: [
                *prefix, "dir", "--root", str(target), "--format", "json", "--output", str(report),
                "--no-progress", *extra]
    return tools


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tools", default="brokerscan,gitleaks,kingfisher",
                        help="comma-separated subset of brokerscan,gitleaks,kingfisher,cat")
    parser.add_argument("--rounds", type=int, default=2, help="measured runs per tool; median shown (default 2)")
    parser.add_argument("--size-mb", type=int, default=2000, help="system files to copy, MB of 10**6 (default 2000)")
    parser.add_argument("--plants", type=int, default=10, help="extra plants in ordinary text files (default 10)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--jobs", type=int, default=None, help="brokerscan --jobs (default: its own, all cores)")
    parser.add_argument("--venv", type=Path, default=None, metavar="DIR",
                        help="run brokerscan from a venv with `pip install .` of this checkout, made in DIR "
                             "(e.g. /tmp/brokerscan-bench/hook-venv, the one bench_dir.py --venv uses)")
    parser.add_argument("--bench-dir", type=Path, default=bench_dir_default(),
                        help="cache for the instance and reports (default $BENCH_DIR or /tmp/brokerscan-instance)")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", type=Path, default=None, metavar="OUT")
    args = parser.parse_args(argv)
    args.tool_names = [n.strip() for n in args.tools.split(",") if n.strip()]
    unknown = set(args.tool_names) - set(bench_dir.ALL_TOOLS)
    if unknown or not args.tool_names:
        parser.error(f"--tools: unknown {sorted(unknown)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work: Path = args.bench_dir.resolve()
    (work / "reports").mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(work).free
    if free < 3 * args.size_mb * MB:
        print(f"only {free / MB:.0f} MB free under {work}; need about {3 * args.size_mb} MB", file=sys.stderr)
        return 2
    print("== instance")
    tree = build_instance(work, args.size_mb, args.plants, args.seed, args.rebuild)
    print("== tools")
    tools = instance_tools(args.tool_names, args.jobs, args.venv)
    results = bench_dir.tool_results(tools, tree.root, work / "reports")
    print("== preflight")
    bench_dir.preflight(tools, results, work, args.seed, args.timeout)
    print("== warm-up")
    bench_dir.warm_page_cache(tree.root, work)
    print(f"== {args.rounds} round(s)")
    bench_dir.run_rounds(tools, results, tree, work, args.rounds, args.timeout)

    ordered = [results[t.name] for t in tools]
    print()
    print(f"instance: {tree.root}  {tree.bytes / MB:.0f} MB  {tree.files} files  {len(tree.planted)} planted "
          f"({sum('!' in p.path for p in tree.planted)} inside archives)  cpus: {os.cpu_count()}")
    print(bench_dir.results_table(ordered, tree))
    print("\npeak PSS MB (shared pages split between processes): " + ", ".join(
        f"{r.name} {max(r.peak_pss, default=0) / MB:.0f}" for r in ordered if r.peak_pss))
    by_kind = bench_dir.recall_by_kind_table(ordered, tree)
    if by_kind:
        print("\nplanted recall by credential kind")
        print(by_kind)
    in_archives = [p for p in tree.planted if "!" in p.path]
    if in_archives:
        print("\nplanted recall inside archives: " + ", ".join(
            f"{r.name} {len(in_archives) - sum('!' in m['path'] for m in r.missed)}/{len(in_archives)}"
            for r in ordered if r.recall is not None))
    ratios = bench_dir.ratios_table(ordered)
    if ratios:
        print("\nratios (wall time, peak RSS: >1 means brokerscan needs more; throughput: >1 means brokerscan is faster)")
        print(ratios)
    for res in ordered:
        if res.status == "failed":
            print(f"\n{res.name} failed: {res.error}")
        if res.missed:
            print(f"\n{res.name} missed: " + ", ".join(f"{m['path']}:{m['line']} ({m['kind']})" for m in res.missed))
    if args.json:
        bench_dir.save_json(args.json, args, tree, tools, ordered)
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
