"""What a whole-machine ("host") scan knows that a repository scan does not.

A host scan is ``brokerscan dir /``, ``brokerscan dir --root /mnt/snapshot`` (a mounted
disk snapshot whose ``/`` is elsewhere) or ``brokerscan dir --host PATH``. Three things
change then, and all three live here as data and small pure functions:

* **Pseudo filesystems** (``/proc``, ``/sys``, ``/dev``, ``/run``; on a live machine also
  every mount of a pseudo filesystem type) are never entered: their files are endless,
  blocking or volatile, and hold nothing a leak scan wants.
* **Places** where broker credentials live on a trading host (shell histories, ``~/Jts``,
  IBC's ``config.ini``, ``.env`` files, systemd units, crontabs...) are always scanned,
  even when an ``--exclude`` pattern would skip them, and their findings are labelled
  with the place. Labels are added in repository scans too; the override is host-only,
  so a repository's ``exclude = ["tests/**"]`` keeps its synthetic ``.env`` fixtures out.
* **Exposure**: who besides the owner can read a file that holds a credential. A
  group- or world-readable file (reachable through its directories), or one owned by a
  user other than the owner of the home directory it sits in, is *exposed*; its findings
  go up one severity level and carry the fix.
"""
from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import lru_cache

from .models import Finding, Severity

# (label, glob patterns). Patterns starting with "/" are anchored at the host root;
# "**/" matches any number of directories (also none); a trailing "/**" matches the
# directory itself and everything below it.
PLACES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("shell-history", ("**/.bash_history", "**/.zsh_history", "**/.sh_history",
                       "**/.local/share/fish/fish_history")),
    ("python-history", ("**/.python_history",)),
    ("tws-settings", ("**/Jts/**",)),
    ("ibc-config", ("**/ibc/config.ini", "**/IBC/config.ini", "**/ibc/config*.ini")),
    ("ibeam", ("**/.ibeam/**", "**/ibeam*/env.list", "**/ibeam*.env")),
    ("dotenv", ("**/.env", "**/.env.*")),
    ("docker-compose", ("**/docker-compose*.y*ml", "**/compose.y*ml")),
    ("systemd-unit", ("/etc/systemd/system/**", "**/.config/systemd/user/**")),
    ("crontab", ("/var/spool/cron/**", "/etc/cron*/**")),
    ("cloud-init", ("/var/lib/cloud/instance/user-data*", "/var/lib/cloud/instances/*/user-data*")),
    ("jupyter-checkpoint", ("**/.ipynb_checkpoints/**",)),
)

# Named after what a person would call the place in a report.
PLACE_TITLES = {
    "shell-history": "shell history",
    "python-history": "Python history",
    "tws-settings": "TWS / IB Gateway settings",
    "ibc-config": "IBC config",
    "ibeam": "IBeam settings",
    "dotenv": ".env file",
    "docker-compose": "docker-compose file",
    "systemd-unit": "systemd unit",
    "crontab": "crontab",
    "cloud-init": "cloud-init user data",
    "jupyter-checkpoint": "Jupyter checkpoint",
}

# Directories (relative to the host root) that are never entered in a host scan.
PSEUDO_DIRS = ("proc", "sys", "dev", "run", "var/run", "var/lock")

# Filesystem types whose mounts are skipped on a live machine (from /proc/self/mounts).
PSEUDO_FS_TYPES = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs",
    "securityfs", "pstore", "bpf", "configfs", "fusectl", "mqueue", "hugetlbfs", "autofs",
    "binfmt_misc", "efivarfs", "rpc_pipefs", "nsfs", "selinuxfs",
})


def glob_to_regex(pattern: str) -> str:
    """A place glob as a regex over an absolute, ``/``-separated host path."""
    out = []
    p = pattern if pattern.startswith(("/", "**")) else "/" + pattern
    i = 0
    while i < len(p):
        if p.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif p.startswith("/**", i) and i + 3 == len(p):
            out.append("(?:/.*)?")
            i += 3
        elif p.startswith("**", i):
            out.append(".*")
            i += 2
        elif p[i] == "*":
            out.append("[^/]*")
            i += 1
        elif p[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(p[i]))
            i += 1
    body = "".join(out)
    if body.startswith("(?:.*/)?"):  # "**/x" at the start: any directory, the root included
        body = "/" + body
    return body


class Places:
    """Matches host paths against ``PLACES``: ``label_of('/home/u/.env') == 'dotenv'``."""

    def __init__(self, places: Sequence[tuple[str, Sequence[str]]] = PLACES) -> None:
        groups = []
        self.labels: list[str] = []
        for label, patterns in places:
            for pattern in patterns:
                groups.append(f"(?P<p{len(self.labels)}>{glob_to_regex(pattern)})")
                self.labels.append(label)
        self._regex = re.compile(f"(?:{'|'.join(groups)})\\Z", re.DOTALL) if groups else None
        # Every glob's longest literal run must occur in a path it matches: testing those
        # with ``in`` first halves the cost for the (nearly all) paths that are no place.
        literals = sorted({max(re.split(r"\*\*/|/\*\*|\*|\?", pattern), key=len)
                           for _, patterns in places for pattern in patterns})
        # One C-level search for all of them: a Python loop of ``in`` tests cost more than
        # the rest of the walk on a repository of 28k files.
        self._literals = re.compile("|".join(map(re.escape, literals)))

    def label_of(self, hostpath: str) -> str | None:
        if self._regex is None or self._literals.search(hostpath) is None:
            return None
        m = self._regex.match(hostpath)
        if m is None or m.lastgroup is None:
            return None
        return self.labels[int(m.lastgroup[1:])]


@lru_cache(maxsize=1)
def default_places() -> Places:
    return Places()


def host_path(abspath: str, host_root: str) -> str:
    """``/mnt/snap/home/u/.env`` -> ``/home/u/.env`` for host root ``/mnt/snap``."""
    rel = os.path.relpath(abspath, host_root)
    if rel == os.curdir:
        return "/"
    return "/" + rel.replace(os.sep, "/")


MAX_LINK_HOPS = 40  # as Linux: more links than this in one path is a loop


def resolve_in_root(path: str, host_root: str) -> str:
    """``path`` with every symbolic link resolved as the scanned machine resolves it: an
    absolute target starts again at ``host_root`` (its ``/``), and ``..`` stops there. The
    kernel would read ``/etc/x`` in a snapshot's link as the scanning host's own ``/etc/x``.

    Raises ``OSError`` like ``os.stat``: ``ENOENT`` for a link pointing nowhere, ``ELOOP``
    past ``MAX_LINK_HOPS``. A path outside ``host_root`` resolves as the host resolves it."""
    root = os.path.normpath(host_root)
    rel = os.path.relpath(path, root)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return os.path.realpath(path, strict=True)
    pending = [part for part in reversed(rel.split(os.sep)) if part not in ("", os.curdir)]
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop()
        if part == os.pardir:
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if not os.path.islink(candidate):
            os.lstat(candidate)  # raises for a missing component
            resolved.append(part)
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []
        pending.extend(p for p in reversed(target.split("/")) if p not in ("", os.curdir))
    return os.path.join(root, *resolved)


def pseudo_dirs(host_root: str, live: bool) -> frozenset[str]:
    """Absolute directories never to enter: the named ones under ``host_root`` and, on a
    live machine (``host_root == '/'``), every mount point of a pseudo filesystem type."""
    found = {os.path.normpath(os.path.join(host_root, d)) for d in PSEUDO_DIRS}
    if live:
        found.update(_pseudo_mounts())
    return frozenset(found)


def _pseudo_mounts(mounts_file: str = "/proc/self/mounts") -> set[str]:
    out: set[str] = set()
    try:
        with open(mounts_file, encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3 and parts[2] in PSEUDO_FS_TYPES:
                    out.add(_unescape_mount(parts[1]))
    except OSError:
        pass
    return out


def _unescape_mount(field: str) -> str:
    """``/proc/self/mounts`` escapes space, tab, newline and backslash as octal."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


MAX_HOST_FILE_BYTES = 1024 * 1024  # etc/passwd and etc/hostname: far below this on any real machine
MAX_HOSTNAME_CHARS = 256
_HOST_FILES = (("etc", "hostname"), ("etc", "passwd"))  # what a host scan reads about the machine itself


@lru_cache(maxsize=16)
def read_host_file(host_root: str, *parts: str) -> tuple[str, str | None]:
    """(text, problem) of a small file of the scanned machine, such as ``etc/passwd``.

    A snapshot is data, not a trusted system: its ``etc/hostname`` may be a FIFO (a plain
    ``open`` waits forever) and its ``etc/passwd`` a link to ``/dev/zero`` (a plain read
    fills memory). So it is read as scanned files are: its links resolved inside the
    snapshot, the file itself opened without following a link and without blocking,
    only a regular file, at most ``MAX_HOST_FILE_BYTES``. ``problem`` says why the text
    is empty or cut; a missing file is no problem."""
    path = os.path.join(host_root, *parts)
    try:
        fd = os.open(resolve_in_root(path, host_root), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENOENT and not os.path.lexists(path):
            return "", None
        return "", f"not read: {_open_problem(exc)}"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "", "not read: not a regular file"
        from .sources.files import read_at_most  # sources.files imports this module

        data = read_at_most(lambda size: os.read(fd, size), MAX_HOST_FILE_BYTES + 1)
    except OSError as exc:
        return "", f"not read: {_open_problem(exc)}"
    finally:
        os.close(fd)
    if len(data) > MAX_HOST_FILE_BYTES:
        return data[:MAX_HOST_FILE_BYTES].decode("utf-8", "replace"), f"only its first {MAX_HOST_FILE_BYTES} bytes read"
    return data.decode("utf-8", "replace"), None


def _open_problem(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "a symbolic link to nothing in the scanned tree"
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop"
    return os.strerror(exc.errno) if exc.errno else str(exc)


def host_file_problems(host_root: str) -> list[str]:
    """Summary notes for the machine's own files a host scan could not read as it should."""
    problems = []
    for parts in _HOST_FILES:
        problem = read_host_file(host_root, *parts)[1]
        if problem is not None:
            problems.append(f"host: {'/'.join(parts)} {problem}")
    return problems


def hostname_of(host_root: str) -> str | None:
    """The machine name a snapshot had (``etc/hostname`` under its root), if it says."""
    lines = read_host_file(host_root, "etc", "hostname")[0].strip().splitlines()
    name = lines[0].strip()[:MAX_HOSTNAME_CHARS] if lines else ""
    return name or None


# --- exposure ---------------------------------------------------------------------------

@lru_cache(maxsize=8)
def user_names(host_root: str) -> dict[int, str]:
    """uid -> name from the host's own ``etc/passwd`` (a snapshot's, not the scanning machine's).
    A line that is not ``name:x:uid:...`` with a decimal uid is ignored."""
    names: dict[int, str] = {}
    for line in read_host_file(host_root, "etc", "passwd")[0].splitlines():
        parts = line.split(":")
        if len(parts) > 3 and parts[2].isascii() and parts[2].isdigit():  # "²" is a digit to isdigit
            names.setdefault(int(parts[2]), parts[0])
    return names


def _home_of(hostpath: str) -> str | None:
    parts = hostpath.split("/")
    if len(parts) > 3 and parts[1] == "home":
        return "/home/" + parts[2]
    if len(parts) > 2 and parts[1] == "root":
        return "/root"
    return None


def exposure(abspath: str, st: os.stat_result, host_root: str, place: str | None = None) -> tuple[tuple[str, str], ...]:
    """Facts about who can read ``abspath`` (a file holding a finding), as sorted key/value pairs.

    ``mode``, ``owner`` and ``readable-by`` always; ``exposed`` and ``fix`` when someone
    other than the owner can read it. Group and world access count only when every
    directory from the host root down lets them through (``x``), so a 0644 file in a
    0700 home is not exposed.
    """
    hostpath = host_path(abspath, host_root)
    names = user_names(host_root)
    mode = stat.S_IMODE(st.st_mode)
    owner = names.get(st.st_uid, str(st.st_uid))
    group_reach, world_reach = _reach(os.path.dirname(abspath), host_root)
    world = bool(mode & stat.S_IROTH) and world_reach
    group = bool(mode & stat.S_IRGRP) and (group_reach or world_reach)
    facts = {"mode": f"{mode:04o}", "owner": owner,
             "readable-by": "everyone" if world else "owner,group" if group else "owner"}
    exposed = []
    fixes = []
    if world or group:
        exposed.append("world-readable" if world else "group-readable")
        fixes.append(f"chmod 600 {hostpath}")
    home = _home_of(hostpath)
    if home is not None:
        try:
            home_uid = os.lstat(os.path.join(host_root, home.lstrip("/"))).st_uid
        except OSError:
            home_uid = None
        if home_uid is not None and st.st_uid not in (home_uid, 0):
            exposed.append("owned-by-other-user")
            fixes.append(f"chown {names.get(home_uid, str(home_uid))} {hostpath}")
    if exposed:
        facts["exposed"] = ",".join(exposed)
        store = ("use EnvironmentFile= with a 0600 file or LoadCredential=" if place == "systemd-unit"
                 else "move the value into a secret store (AWS Secrets Manager/SSM Parameter Store, Vault, "
                      "systemd credentials)")
        facts["fix"] = "; ".join(fixes) + f"; better, {store}, then rotate the credential"
    return tuple(sorted(facts.items()))


def _reach(directory: str, host_root: str) -> tuple[bool, bool]:
    """(group may pass, others may pass) through every directory from ``directory`` up to the root."""
    group = world = True
    root = os.path.normpath(host_root)
    current = os.path.normpath(directory)
    while True:
        try:
            mode = os.stat(current).st_mode
        except OSError:
            return False, False
        world = world and bool(mode & stat.S_IXOTH)
        group = group and bool(mode & (stat.S_IXGRP | stat.S_IXOTH))
        if current == root or current == os.path.dirname(current) or not (group or world):
            return group, world
        current = os.path.dirname(current)


_RAISE = {
    Severity.INFO: Severity.LOW,
    Severity.LOW: Severity.MEDIUM,
    Severity.MEDIUM: Severity.HIGH,
    Severity.HIGH: Severity.CRITICAL,
    Severity.CRITICAL: Severity.CRITICAL,
}


def escalate_exposed(findings: Iterable[Finding]) -> list[Finding]:
    """Findings in exposed files one severity level up (critical stays critical)."""
    return [replace(f, severity=_RAISE[f.severity]) if any(k == "exposed" for k, _ in f.provenance.extra) else f
            for f in findings]
