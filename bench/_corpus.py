"""The benchmark corpus: real source text with synthetic IBKR credentials planted in it.

Real text matters: keyword prefilters and regexes behave very differently on random
bytes than on code full of ``password``, ``token`` and ``account``, so the tree is
the running Python's stdlib and site-packages. The planted values are generated
here, at bench time, from a seeded RNG, so nothing that looks like a real
credential is ever committed; the manifest beside the tree says where each is.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import stat
import string
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

MB = 1_000_000  # every "MB" printed by the benchmarks is 10**6 bytes


BINARY_SUFFIXES = frozenset({
    ".so", ".pyc", ".pyo", ".pyd", ".a", ".o", ".dll", ".dylib", ".exe", ".whl", ".zip",
    ".gz", ".bz2", ".xz", ".tar", ".png", ".gif", ".jpg", ".jpeg", ".ico", ".wav", ".npy",
})
SKIP_DIRS = frozenset({"__pycache__"})
# Text kinds a person would plausibly paste a credential into. Planting only here keeps
# recall about detection, not about which file types a tool chooses to read.
PLANT_SUFFIXES = frozenset({".py", ".txt", ".cfg", ".ini", ".toml", ".rst", ".md", ".yaml", ".yml", ".sh"})
# Package metadata that gitleaks' default config skips on purpose (``*.dist-info``).
PLANT_SKIP_PARTS = ("dist-info", "egg-info")
PLANT_MAX_BYTES = 2 * MB

TREE_FORMAT = 1  # bump when the tree layout or planting changes, so cached trees are rebuilt


@dataclass(frozen=True)
class TreeSpec:
    """What the cached tree must satisfy; a manifest with a different spec is rebuilt."""

    size_mb: int
    plants: int
    seed: int
    format: int = TREE_FORMAT


@dataclass(frozen=True)
class Plant:
    """One synthetic credential: where it is (path relative to the tree, 1-based line) and what."""

    path: str
    line: int
    kind: str
    value: str
    text: str


@dataclass
class Tree:
    """A built corpus: its root, size, and the planted credentials recorded in the manifest."""

    root: Path
    manifest: Path
    bytes: int
    files: int
    planted: list[Plant] = field(default_factory=list)
    origin: str = "planted"  # planted | stdlib copy | existing directory (``bench_dir.py --tree``)
    symlinks: int = 0  # symlinks found (and not counted) when an existing tree was walked


def bench_dir_default() -> Path:
    """``$BENCH_DIR`` or ``/tmp/brokerscan-bench``: outside any repo, and not under a path
    gitleaks allowlists (it skips everything below ``lib/pythonX.Y``)."""
    return Path(os.environ.get("BENCH_DIR", "/tmp/brokerscan-bench"))


def source_roots() -> list[tuple[str, Path]]:
    """The stdlib and site-packages of this interpreter, labelled, de-duplicated by real path.

    The labels become the tree's top-level directories: the tree must not mirror
    ``lib/python3.11/`` because gitleaks' default allowlist would skip all of it.
    """
    paths = sysconfig.get_paths()
    roots: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    for label, key in (("stdlib", "stdlib"), ("site-packages", "purelib"), ("site-packages-plat", "platlib")):
        path = Path(paths[key]).resolve()
        if path.is_dir() and path not in seen:
            seen.add(path)
            roots.append((label, path))
    return roots


def iter_text_files(roots: Sequence[tuple[str, Path]]) -> Iterator[tuple[Path, str]]:
    """Yield ``(source, relative destination)`` for text files in a deterministic order.

    Directories and files are sorted; another root nested inside a root (site-packages
    inside the stdlib directory) is walked only under its own label, so no file is
    copied twice. Binary suffixes are skipped here; NUL bytes are checked on copy.
    """
    root_paths = {path for _, path in roots}
    for label, root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = sorted(
                d for d in dirnames
                if d not in SKIP_DIRS and (here / d).resolve() not in root_paths and not (here / d).is_symlink()
            )
            for name in sorted(filenames):
                src = here / name
                if src.suffix.lower() in BINARY_SUFFIXES or src.is_symlink():
                    continue
                yield src, f"{label}/{src.relative_to(root).as_posix()}"


def copy_text_tree(dest: Path, target_bytes: int) -> tuple[int, int]:
    """Copy text files into ``dest`` until ``target_bytes`` is reached; return (bytes, files).

    If the installation holds less text than asked for, further passes copy it again
    under ``pass2/``, ``pass3/``...: the size target is what the benchmark promises.
    """
    total = files = 0
    roots = source_roots()
    for n in range(1, 1000):
        copied_this_pass = 0
        for src, rel in iter_text_files(roots):
            try:
                data = src.read_bytes()
            except OSError:
                continue
            if not data or b"\0" in data:
                continue
            out = dest / (rel if n == 1 else f"pass{n}/{rel}")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            total += len(data)
            files += 1
            copied_this_pass += len(data)
            if total >= target_bytes:
                return total, files
        if copied_this_pass == 0:
            raise RuntimeError("no text files found under " + ", ".join(str(p) for _, p in roots))
    return total, files


def _random_chars(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _random_password(rng: random.Random, length: int) -> str:
    """Mixed-case alphanumeric with at least one of each class, like a generated password."""
    alphabet = string.ascii_letters + string.digits
    while True:
        value = _random_chars(rng, alphabet, length)
        if (any(c.islower() for c in value) and any(c.isupper() for c in value)
                and any(c.isdigit() for c in value)):
            return value


def make_credential(kind: str, rng: random.Random) -> tuple[str, str]:
    """Return ``(line text, secret value)`` for one synthetic IBKR credential of ``kind``.

    The shapes follow what IBC, IBeam and Flex Web Service users actually write; the
    values are random, drawn from ``rng`` at bench time.
    """
    if kind == "tws-password":
        value = _random_password(rng, 12)
        return f"TWS_PASSWORD={value}", value
    if kind == "ibc-password":
        value = _random_password(rng, 10)
        return f"IbPassword={value}", value
    if kind == "ibeam-totp":
        value = _random_chars(rng, string.ascii_uppercase + "234567", 32)
        return f"IBEAM_PYOTP_SECRET={value}", value
    if kind == "account-id":
        value = "U" + str(rng.randint(1, 9)) + _random_chars(rng, string.digits, 6)
        return f'account = "{value}"', value
    if kind == "flex-token":
        value = str(rng.randint(1, 9)) + _random_chars(rng, string.digits, 23)
        query = str(rng.randint(100000, 999999))
        url = ("https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService/"
               f"SendRequest?t={value}&q={query}&v=3")
        return url, value
    raise ValueError(f"unknown credential kind {kind!r}")


CREDENTIAL_KINDS = ("tws-password", "ibc-password", "ibeam-totp", "account-id", "flex-token")


def plant_candidates(root: Path) -> list[Path]:
    """UTF-8 text files of plausible kinds, sorted, that can take a planted line."""
    out: list[Path] = []
    for path in sorted(root.rglob("*")):
        if (path.suffix.lower() not in PLANT_SUFFIXES or not path.is_file()
                or any(part in path.as_posix() for part in PLANT_SKIP_PARTS)
                or path.stat().st_size > PLANT_MAX_BYTES):
            continue
        out.append(path)
    return out


def insert_line(path: Path, line_text: str, rng: random.Random) -> int:
    """Insert ``line_text`` before a random line of ``path``; return its 1-based line number.

    Lines are counted on ``\\n`` only, as gitleaks and most scanners do (not
    ``str.splitlines``, which also splits on form feeds and Unicode separators).
    """
    text = path.read_text(encoding="utf-8")
    parts = text.split("\n")
    index = rng.randint(0, len(parts) - 1)
    parts.insert(index, line_text)
    path.write_text("\n".join(parts), encoding="utf-8")
    return index + 1


def plant_credentials(root: Path, count: int, seed: int) -> list[Plant]:
    """Plant ``count`` credentials in distinct seeded-random files, cycling through the kinds."""
    rng = random.Random(seed)
    candidates = []
    for path in plant_candidates(root):
        try:
            path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        candidates.append(path)
    if len(candidates) < count:
        raise RuntimeError(f"only {len(candidates)} files can take a planted credential, {count} asked")
    plants = []
    for i, path in enumerate(rng.sample(candidates, count)):
        kind = CREDENTIAL_KINDS[i % len(CREDENTIAL_KINDS)]
        text, value = make_credential(kind, rng)
        line = insert_line(path, text, rng)
        plants.append(Plant(path.relative_to(root).as_posix(), line, kind, value, text))
    return sorted(plants, key=lambda p: (p.path, p.line))


def _plants_intact(root: Path, plants: Sequence[Plant]) -> bool:
    """True when every planted line is still where the manifest says (the cache is trustworthy)."""
    for plant in plants:
        try:
            lines = (root / plant.path).read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError):
            return False
        if len(lines) < plant.line or lines[plant.line - 1] != plant.text:
            return False
    return True


def load_cached_tree(bench_dir: Path, spec: TreeSpec) -> Tree | None:
    """The tree under ``bench_dir`` if its manifest matches ``spec`` and its plants are intact."""
    manifest = bench_dir / "manifest.json"
    root = bench_dir / "tree"
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if doc.get("spec") != asdict(spec) or not root.is_dir():
        return None
    plants = [Plant(**p) for p in doc.get("planted", [])]
    if not _plants_intact(root, plants):
        return None
    return Tree(root, manifest, int(doc["bytes"]), int(doc["files"]), plants)


def build_tree(bench_dir: Path, spec: TreeSpec, rebuild: bool = False,
               log: Callable[[str], None] = print) -> Tree:
    """Reuse the cached tree when it matches ``spec``; otherwise build it from scratch.

    The manifest (``bench_dir/manifest.json``) sits beside the tree, never inside it,
    so no tool sees the planted values twice.
    """
    if not rebuild:
        cached = load_cached_tree(bench_dir, spec)
        if cached is not None:
            log(f"reusing tree {cached.root} ({cached.bytes / MB:.1f} MB, {cached.files} files, "
                f"{len(cached.planted)} planted)")
            return cached
    root = bench_dir / "tree"
    manifest = bench_dir / "manifest.json"
    log(f"building tree {root} ({spec.size_mb} MB of text from {', '.join(str(p) for _, p in source_roots())})")
    if root.exists():
        shutil.rmtree(root)
    manifest.unlink(missing_ok=True)
    root.mkdir(parents=True)
    started = time.perf_counter()
    total, files = copy_text_tree(root, spec.size_mb * MB)
    plants = plant_credentials(root, spec.plants, spec.seed)
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    doc = {
        "spec": asdict(spec),
        "tree": str(root),
        "bytes": total,
        "files": files,
        "sources": [str(p) for _, p in source_roots()],
        "planted": [asdict(p) for p in plants],
    }
    manifest.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    log(f"built in {time.perf_counter() - started:.1f} s: {total / MB:.1f} MB, {files} files, "
        f"{len(plants)} planted; manifest {manifest}")
    return Tree(root, manifest, total, files, plants)


# ---------------------------------------------------------------------------
# Existing trees (``bench_dir.py --tree``): nothing planted, measured by walking
# ---------------------------------------------------------------------------

STDLIB_TREE_FORMAT = 1  # bump when what the stdlib copy holds changes, so cached copies are redone
# gitleaks' default config allowlists every path matching this (its own regex), even an absolute
# target path: a tree under ``.../lib/python3.11`` is skipped whole and gitleaks reports nothing.
GITLEAKS_PYTHON_LIB = re.compile(
    r"(?i)(?:^|/)(?:lib(?:64)?/python[23](?:\.\d{1,2})+|python/[23](?:\.\d{1,2})+/lib(?:64)?)(?:/|$)")


@dataclass(frozen=True)
class TreeStats:
    """What walking a tree finds: regular files and their bytes; symlinks are counted apart."""

    bytes: int
    files: int
    symlinks: int


def measure_tree(root: Path) -> TreeStats:
    """Bytes and count of the regular files below ``root``, without following symlinks.

    The same files ``find ROOT -type f`` lists (the ``cat`` baseline): symlinks to files
    and to directories are not followed, only counted. Binary files count like any other.
    """
    total = files = links = 0
    for dirpath, dirnames, filenames in os.walk(root):
        links += sum(os.path.islink(os.path.join(dirpath, d)) for d in dirnames)
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
                files += 1
            elif stat.S_ISLNK(st.st_mode):
                links += 1
    return TreeStats(total, files, links)


def existing_tree(root: Path) -> Tree:
    """An existing directory as a benchmark tree: nothing planted, size measured by walking it."""
    root = root.resolve()
    if not root.is_dir():
        raise NotADirectoryError(f"--tree {root}: not a directory")
    stats = measure_tree(root)
    return Tree(root, Path(os.devnull), stats.bytes, stats.files, [], "existing directory", stats.symlinks)


def stdlib_source() -> tuple[Path, list[Path]]:
    """This interpreter's stdlib directory and the package directories inside it to leave out.

    In most layouts (pyenv, python.org builds, venv-less installs) ``site-packages`` lives
    inside the stdlib directory; it holds whatever is installed, not the stdlib.
    """
    paths = sysconfig.get_paths()
    stdlib = Path(paths["stdlib"]).resolve()
    excluded = sorted({Path(paths[k]).resolve() for k in ("purelib", "platlib")
                       if Path(paths[k]).resolve().is_relative_to(stdlib)}
                      | {d.resolve() for d in (stdlib / "site-packages", stdlib / "dist-packages") if d.is_dir()})
    return stdlib, excluded


def copy_regular_files(src: Path, dest: Path, excluded: Sequence[Path]) -> TreeStats:
    """Copy the regular files below ``src`` to ``dest`` (sorted, symlinks left out and counted),
    skipping the directories in ``excluded``."""
    skip = set(excluded)
    total = files = links = 0
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        links += sum((here / d).is_symlink() for d in dirnames)
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink() and (here / d).resolve() not in skip)
        out_dir = dest / here.relative_to(src)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in sorted(filenames):
            path = here / name
            try:
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode):
                    links += 1
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                shutil.copyfile(path, out_dir / name, follow_symlinks=False)
            except OSError:
                continue
            total += st.st_size
            files += 1
    return TreeStats(total, files, links)


def stdlib_tree(bench_dir: Path, rebuild: bool = False, log: Callable[[str], None] = print) -> Tree:
    """A copy of this interpreter's stdlib, minus site-packages, at ``bench_dir/stdlib-tree``.

    Why a copy and not the directory itself: every tool must scan exactly the same files,
    and the peers have no flag to leave out site-packages the way we would; and gitleaks'
    default config skips everything under ``lib/python3.X/`` (see ``GITLEAKS_PYTHON_LIB``),
    so on the real path it would scan nothing. The copy holds every regular file
    (``.py``, ``.pyc`` in ``__pycache__``, ``.so``, the static ``libpython.a``, bundled
    wheels), no symlinks. It is made once and reused while its manifest
    (``bench_dir/stdlib-tree.json``, beside the tree) matches the source and the tree.
    """
    root, manifest = bench_dir / "stdlib-tree", bench_dir / "stdlib-tree.json"
    source, excluded = stdlib_source()
    spec = {"source": str(source), "excluded": [str(p) for p in excluded],
            "python": sys.version.split()[0], "format": STDLIB_TREE_FORMAT}
    if not rebuild and root.is_dir():
        try:
            doc = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = {}
        stats = measure_tree(root)
        if doc.get("spec") == spec and (doc.get("bytes"), doc.get("files")) == (stats.bytes, stats.files):
            log(f"reusing stdlib copy {root} ({stats.bytes / MB:.1f} MB, {stats.files} files; "
                f"copied from {source}, without {', '.join(p.name for p in excluded) or 'nothing'})")
            return Tree(root, manifest, stats.bytes, stats.files, [], "stdlib copy", stats.symlinks)
    log(f"copying {source} (without {', '.join(str(p) for p in excluded) or 'nothing'}) to {root}")
    started = time.perf_counter()
    staging = bench_dir / "stdlib-tree.tmp"
    for old in (staging, root):
        if old.exists():
            shutil.rmtree(old)
    manifest.unlink(missing_ok=True)
    copied = copy_regular_files(source, staging, excluded)
    staging.rename(root)
    stats = measure_tree(root)
    doc = {"spec": spec, "tree": str(root), "bytes": stats.bytes, "files": stats.files,
           "symlinks_left_out": copied.symlinks}
    manifest.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    log(f"copied in {time.perf_counter() - started:.1f} s: {stats.bytes / MB:.1f} MB, {stats.files} files "
        f"({copied.symlinks} symlinks left out); manifest {manifest}")
    return Tree(root, manifest, stats.bytes, stats.files, [], "stdlib copy", stats.symlinks)


def build_smoke_tree(dest: Path, seed: int) -> list[Plant]:
    """A tiny tree with one credential of each kind: a preflight that the command line works
    and that warms each tool's caches (compiled rule databases, byte-compiled Python)."""
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "app").mkdir(parents=True)
    rng = random.Random(seed)
    plants = []
    for i, kind in enumerate(CREDENTIAL_KINDS):
        text, value = make_credential(kind, rng)
        rel = f"app/settings_{i}.py"
        (dest / rel).write_text(f'"""Settings."""\nimport os\n\n{text}\n', encoding="utf-8")
        plants.append(Plant(rel, 4, kind, value, text))
    return plants
