"""Git objects as scan input: which blobs a history holds, and their bytes, each read once.

Scanning history commit by commit (``git log -p``) reads the same file contents
over and over. Here every *unique* blob is read and scanned once:

* ``enumerate_blobs`` runs one ``git rev-list --objects`` over the chosen commits.
  Git names each reachable blob exactly once, with the first path it was seen at
  (walking from the newest commits), and prints objects missing from the
  repository as ``?sha`` instead of dying, so a partial clone or a damaged pack
  is reported, not fatal.
* ``ObjectReader`` streams contents through long-lived ``git cat-file`` processes
  (``--batch-check`` for type and size, so enormous blobs are skipped without
  being inflated; ``--batch`` for bytes). A corrupt object kills ``cat-file``;
  the reader records the object, restarts the process and goes on.

Which commit introduced a blob is worked out afterwards, and only for blobs with
findings (``scanner.history``). Everything here uses plain subprocesses rather
than GitPython: the bytes go straight from git's pipe to the engine, paths stay
bytes (git paths need not be UTF-8), and a pre-commit run does not pay GitPython's
import time.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Self


class GitError(Exception):
    """Git is missing, the path is not a repository, or git failed: one line for the user."""


def git_env() -> dict[str, str]:
    """The environment for every git call: no prompts, and replace refs never hide objects."""
    env = dict(os.environ)
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_NO_REPLACE_OBJECTS": "1", "GIT_OPTIONAL_LOCKS": "0"})
    return env


# For the long-running readers: a small delta-base cache and pack window halve their memory
# (summed over one reader per worker) and cost nothing measurable in speed.
GIT_MEMORY = ("-c", "core.deltaBaseCacheLimit=16m", "-c", "core.packedGitLimit=64m",
              "-c", "core.packedGitWindowSize=16m")


def git_argv(cwd: str, *args: str | bytes) -> list[str | bytes]:
    return ["git", "-C", cwd, "-c", "core.quotePath=false", *args]


def run_git(cwd: str, *args: str | bytes, input: bytes | None = None, check: bool = True) -> bytes:
    """Run git to completion and return stdout; raise ``GitError`` with git's message on failure."""
    try:
        proc = subprocess.run(git_argv(cwd, *args), input=input, capture_output=True, env=git_env(), check=False)
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    if check and proc.returncode != 0:
        raise GitError(git_message(proc.stderr, args))
    return proc.stdout


def git_message(stderr: bytes, args: Sequence[str | bytes]) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    what = os.fsdecode(args[0]) if args else "git"
    return f"git {what} failed: " + ("; ".join(fatal or lines[-3:]) or "no message")


@dataclass(frozen=True)
class Repository:
    """An opened repository: ``root`` is the work tree (or the git dir of a bare repo)."""

    root: str
    git_dir: str
    bare: bool
    shallow: bool

    def git(self, *args: str | bytes, input: bytes | None = None, check: bool = True) -> bytes:
        return run_git(self.root, *args, input=input, check=check)

    def shallow_boundaries(self) -> int:
        try:
            with open(os.path.join(self.git_dir, "shallow"), "rb") as fh:
                return sum(1 for line in fh if line.strip())
        except OSError:
            return 0


def open_repository(path: str) -> Repository:
    """Validate ``path`` and describe the repository it is in; ``GitError`` if it is not one.

    One ``git rev-parse`` for a work tree (the pre-commit case); a bare repository,
    where ``--show-toplevel`` fails, takes a second.
    """
    if not os.path.exists(path):
        raise GitError(f"no such directory: {path}")
    if not os.path.isdir(path):
        raise GitError(f"not a directory: {path}")
    query = ["rev-parse", "--absolute-git-dir", "--is-bare-repository", "--is-shallow-repository"]
    try:
        proc = subprocess.run(git_argv(path, *query, "--show-toplevel"), capture_output=True, env=git_env(),
                              check=False)
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    lines = proc.stdout.decode("utf-8", "surrogateescape").splitlines()
    if proc.returncode != 0 or len(lines) < 4:
        text = git_message(proc.stderr, ["rev-parse"])
        if "not a git repository" in text:
            raise GitError(f"not a git repository: {path}")
        if "dubious ownership" in text:
            raise GitError(f"{path}: git refuses a repository owned by someone else "
                           f"({text.split('failed: ', 1)[-1]})")
        lines = run_git(path, *query).decode("utf-8", "surrogateescape").splitlines()
    git_dir, bare, shallow = lines[:3]
    root = lines[3] if len(lines) > 3 and bare != "true" else (git_dir if bare == "true" else os.path.abspath(path))
    return Repository(root=root, git_dir=git_dir, bare=bare == "true", shallow=shallow == "true")


@dataclass(frozen=True)
class Scope:
    """Which commits to take blobs from. Empty ``refs`` and no ``range``: every ref (``--all``)."""

    refs: tuple[str, ...] = ()
    range: str | None = None
    since: str | None = None
    until: str | None = None
    all_objects: bool = False
    # Revisions (``sha``, ``^sha``) given to git on standard input instead of any of the above:
    # what a history grew by (``gitsnapshot``), thousands of tips where a repository keeps pull
    # request refs. On the command line those cost git 0.25 s per call; on stdin 0.04 s.
    revisions: tuple[str, ...] = ()

    def rev_args(self) -> list[str]:
        """rev-list arguments selecting the commits (without object or boundary options);
        with ``revisions``, the caller also writes ``stdin_revisions()`` to git's ``--stdin``."""
        args: list[str] = []
        if self.since:
            args.append(f"--since={self.since}")
        if self.until:
            args.append(f"--until={self.until}")
        if self.range:
            args.append(self.range)
        elif self.refs:
            args.extend(self.refs)
        elif self.revisions:
            pass
        else:
            args.append("--all")
            if self.all_objects:
                args.extend(["--reflog", "--indexed-objects"])
        return args

    def stdin_revisions(self) -> bytes:
        return "".join(f"{revision}\n" for revision in self.revisions).encode("ascii")

    def describe(self) -> str:
        parts = [f"range {self.range}" if self.range else
                 ("refs " + ", ".join(self.refs) if self.refs else "all refs")]
        if self.since:
            parts.append(f"since {self.since}")
        if self.until:
            parts.append(f"until {self.until}")
        if self.all_objects:
            parts.append("plus unreachable objects")
        return ", ".join(parts)


def validate_revisions(repo: Repository, scope: Scope) -> None:
    """Fail early, naming the revision, when a --branch or --range end does not resolve."""
    names = list(scope.refs)
    if scope.range:
        if ".." not in scope.range:
            raise GitError(f"--range must look like A..B (got {scope.range!r})")
        names.extend(p for p in scope.range.replace("...", "..").split("..") if p)
    for name in names:
        if name.startswith("-"):
            raise GitError(f"not a revision: {name!r}")
        proc = subprocess.run(git_argv(repo.root, "rev-parse", "--verify", "--quiet", "--end-of-options",
                                       f"{name}^{{commit}}"),
                              capture_output=True, env=git_env(), check=False)
        if proc.returncode != 0:
            raise GitError(f"unknown revision {name!r} in {repo.root} (for a pull request, fetch the base "
                           "branch: actions/checkout with fetch-depth: 0)")


def boundary_exclusions(repo: Repository, scope: Scope) -> list[str]:
    """``^parent`` for parents just outside a --since/--until window.

    Without them rev-list would also list every older blob still present in the
    window's trees; with them only blobs that commits in the window added or changed.
    """
    if not (scope.since or scope.until):
        return []
    out = repo.git("rev-list", "--parents", *scope.rev_args())
    inside: set[str] = set()
    parents: set[str] = set()
    for line in out.decode("ascii").splitlines():
        shas = line.split()
        if shas:
            inside.add(shas[0])
            parents.update(shas[1:])
    return [f"^{p}" for p in sorted(parents - inside)]


class ObjectRef(NamedTuple):
    """A blob to read: its id and the path git first saw it at (``b""`` when unknown)."""

    sha: str
    path: bytes


class Enumeration:
    """Trees and blobs of a scope with their paths, streamed from ``git rev-list --objects``.

    Iterate it for ``ObjectRef`` values: blobs, and trees that could not be told from
    blobs by their place in the listing (``ObjectReader`` drops those after a cheap type
    check). ``missing`` lists objects git reported absent (a partial clone, a damaged
    pack). Iteration raises ``GitError`` if rev-list fails.

    Not ``--filter=object:type=blob``: with it, a missing tree, and every file below
    it, silently drops out of the listing instead of being reported.
    """

    def __init__(self, repo: Repository, scope: Scope) -> None:
        self.repo = repo
        self.scope = scope
        self.missing: list[str] = []

    def __iter__(self) -> Iterator[ObjectRef]:
        negatives = boundary_exclusions(self.repo, self.scope)
        argv = git_argv(self.repo.root, *GIT_MEMORY, "rev-list", "--objects", "--missing=print",
                        *self.scope.rev_args(), "--stdin")
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                        env=git_env(), bufsize=1 << 16)
            except FileNotFoundError:
                raise GitError("git is not installed or not on PATH") from None
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("".join(n + "\n" for n in negatives).encode("ascii") + self.scope.stdin_revisions())
            proc.stdin.close()
            try:
                held: ObjectRef | None = None
                pathless: set[str] = set()
                for line in proc.stdout:
                    line = line.rstrip(b"\n")
                    if line[:1] == b"?":
                        self.missing.append(line[1:].decode("ascii"))
                        continue
                    sha, named, path = line.partition(b" ")  # ids are 40 hex digits, or 64 in SHA-256 repositories
                    if not path:  # a commit ("<id>"), or a root tree or an object a ref holds ("<id> ")
                        if named:
                            pathless.add(sha.decode("ascii"))
                        continue
                    ref = ObjectRef(sha.decode("ascii"), path)
                    # A new tree is listed right before its first new entry: an object followed by
                    # one below its path is a tree, and needs no type check. Any other is checked.
                    if held is not None and not ref.path.startswith(held.path + b"/"):
                        yield held
                    held = ref
                if held is not None:
                    yield held
            finally:
                proc.stdout.close()
                code = proc.wait()
            if code != 0:
                err.seek(0)
                raise GitError(git_message(err.read(), ["rev-list"]))
        if pathless and not (self.scope.range or self.scope.refs):  # only --all can name a ref to a blob
            yield from ref_held_blobs(self.repo, pathless)


def ref_held_blobs(repo: Repository, pathless: set[str]) -> Iterator[ObjectRef]:
    """The blobs among ``pathless`` (objects rev-list listed with no path) that a ref points at,
    directly or through tags (``git tag leaked $(git hash-object -w file)``), each named after
    the first such ref: ``<blob of refs/tags/leaked>``. The other path-less objects are root
    trees. One ``for-each-ref``, so a history costs no more per commit."""
    out = repo.git("for-each-ref", "--format=%(objectname) %(objecttype) %(*objectname) %(*objecttype) %(refname)")
    targets: dict[str, bytes] = {}
    nested: list[tuple[str, bytes]] = []  # tags of tags: peeled below
    for line in out.splitlines():
        name, kind, peeled, peeled_kind, refname = line.split(b" ", 4)
        if kind == b"blob":
            targets.setdefault(name.decode("ascii"), refname)
        elif kind == b"tag" and peeled_kind == b"blob":
            targets.setdefault(peeled.decode("ascii"), refname)
        elif kind == b"tag" and peeled_kind == b"tag":
            nested.append((peeled.decode("ascii"), refname))
    if nested:
        answers = repo.git("cat-file", "--batch-check=%(objectname) %(objecttype)",
                           input="".join(f"{sha}^{{}}\n" for sha, _ in nested).encode("ascii"))
        for (_, refname), answer in zip(nested, answers.splitlines()):
            sha, _, kind = answer.decode("ascii").partition(" ")
            if kind == "blob":
                targets.setdefault(sha, refname)
    for sha in sorted(pathless & targets.keys()):
        yield ObjectRef(sha, b"<blob of " + targets[sha] + b">")


def unreachable_blobs(repo: Repository, reachable: set[str]) -> Iterator[ObjectRef]:
    """Every blob in the object database that the enumeration did not reach (--all-objects)."""
    out = repo.git("cat-file", "--batch-all-objects", "--unordered",
                   "--batch-check=%(objectname) %(objecttype)")
    for line in out.decode("ascii").splitlines():
        sha, _, kind = line.partition(" ")
        if kind == "blob" and sha not in reachable:
            yield ObjectRef(sha, b"")


class BlobRead(NamedTuple):
    ref: ObjectRef
    data: bytes | None  # None: skipped for ``reason``
    reason: str | None = None


class ObjectReader:
    """Reads blobs through ``git cat-file``; trees and blobs over the size cap are never held.

    With git 2.36 or later one ``cat-file --batch-command`` process answers one
    ``contents`` request per object: the header tells a tree or a blob above
    ``max_size``, whose bytes are then read past in pieces, never held (git inflates
    them; a separate ``info`` round first cost a history of small files about 6 % of
    its scan). Older git gets a ``--batch-check`` process, so that sizes are checked
    before a ``--batch`` process reads contents. A process that dies (git dies on a
    corrupt object) is restarted and the object it died on is reported as
    ``corrupt-object``. The processes run with a small delta-base cache and pack window,
    which halves their memory at no cost in speed (a history scan runs one reader per
    worker).
    """

    MAX_PENDING = 512  # object names written before reading answers; stays below one pipe buffer

    def __init__(self, cwd: str, *, missing_reason: str = "missing-object") -> None:
        """``missing_reason``: how to count an object git cannot read; history scans pass
        ``corrupt-object`` because rev-list has already seen that the object exists."""
        self.cwd = cwd
        self.missing_reason = missing_reason
        self.single = supports_batch_command()
        self._procs: dict[str, subprocess.Popen] = {}

    def _slot(self, mode: str) -> str:
        return "command" if self.single else mode

    def _start(self, mode: str) -> subprocess.Popen:
        if self.single:
            option = "--batch-command"
        elif mode == "check":
            option = "--batch-check"
        else:
            option = "--batch"
        try:
            proc = subprocess.Popen(git_argv(self.cwd, *GIT_MEMORY, "cat-file", option), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=git_env())
        except FileNotFoundError:
            raise GitError("git is not installed or not on PATH") from None
        _widen(proc.stdout)
        return proc

    def close(self) -> None:
        for proc in self._procs.values():
            _end(proc)
        self._procs.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, refs: Iterable[ObjectRef], max_size: int, *,
             non_blobs: list[ObjectRef] | None = None) -> Iterator[BlobRead]:
        """Blobs of ``refs`` (not necessarily in order); trees and other objects are dropped,
        or appended to ``non_blobs`` when given (``--cache`` remembers them: an id's type never changes)."""
        pending: list[ObjectRef] = []
        for ref in refs:
            pending.append(ref)
            if len(pending) >= self.MAX_PENDING:
                yield from self._read_some(pending, max_size, non_blobs)
                pending = []
        if pending:
            yield from self._read_some(pending, max_size, non_blobs)

    def _read_some(self, refs: list[ObjectRef], max_size: int,
                   non_blobs: list[ObjectRef] | None = None) -> Iterator[BlobRead]:
        if self.single:
            yield from self._read_directly(refs, max_size, non_blobs)
            return
        wanted: list[ObjectRef] = []
        for ref, header in zip(refs, self._ask("check", refs)):
            if header is None:
                yield BlobRead(ref, None, "corrupt-object")
            elif header[1] == b"missing":
                yield BlobRead(ref, None, self.missing_reason)
            elif header[1] != b"blob":
                if non_blobs is not None:
                    non_blobs.append(ref)
                continue
            elif int(header[2]) > max_size:
                yield BlobRead(ref, None, "too-large")
            else:
                wanted.append(ref)
        if not wanted:
            return
        for ref, result in zip(wanted, self._ask("batch", wanted)):
            if result is None:
                yield BlobRead(ref, None, "corrupt-object")
            elif isinstance(result, bytes):
                yield BlobRead(ref, result)
            else:
                yield BlobRead(ref, None, self.missing_reason)

    def _read_directly(self, refs: list[ObjectRef], max_size: int,
                       non_blobs: list[ObjectRef] | None) -> Iterator[BlobRead]:
        for ref, answer in zip(refs, self._ask("batch", refs, max_size)):
            if answer is None:
                yield BlobRead(ref, None, "corrupt-object")
            elif isinstance(answer, bytes):
                yield BlobRead(ref, answer)
            elif answer[1:2] == [b"missing"] or len(answer) < 3:
                yield BlobRead(ref, None, self.missing_reason)
            elif answer[1] != b"blob":
                if non_blobs is not None:
                    non_blobs.append(ref)
            else:
                yield BlobRead(ref, None, "too-large")

    def _ask(self, mode: str, refs: list[ObjectRef],
             max_size: int | None = None) -> Iterator[list[bytes] | bytes | None]:
        """Answers in order: header fields (check), bytes (batch), or None where git died.
        ``max_size`` (batch): a tree, or a blob larger than this, is answered by its header
        fields, its bytes read past."""
        prefix = ("info " if mode == "check" else "contents ") if self.single else ""
        index = 0
        while index < len(refs):
            proc = self._procs.get(self._slot(mode))
            if proc is None or proc.poll() is not None:
                proc = self._procs[self._slot(mode)] = self._start(mode)
            assert proc.stdin is not None and proc.stdout is not None
            payload = "".join(prefix + r.sha + "\n" for r in refs[index:]).encode("ascii")
            writer = None
            if len(payload) <= PIPE_MIN_CAPACITY:
                _write_all(proc.stdin, payload)
            else:  # git may block on its full stdout before reading all of this: write from a thread
                writer = threading.Thread(target=_write_all, args=(proc.stdin, payload), daemon=True)
                writer.start()
            try:
                while index < len(refs):
                    answer = self._answer(proc, mode, max_size)
                    if answer is None:  # git died on refs[index]; restart for the rest
                        yield None
                        index += 1
                        _end(proc)
                        break
                    yield answer
                    index += 1
            finally:
                if writer is not None:
                    writer.join()

    @staticmethod
    def _answer(proc: subprocess.Popen, mode: str, max_size: int | None = None) -> list[bytes] | bytes | None:
        out = proc.stdout
        assert out is not None
        header = out.readline()
        if not header.endswith(b"\n"):
            return None
        fields = header.split()
        if mode == "check" or len(fields) < 3:
            return fields  # "<sha> missing" arrives here in batch mode too
        size = int(fields[2])
        if max_size is not None and (fields[1] != b"blob" or size > max_size):
            return fields if _read_past(out, size + 1) else None  # the bytes and their newline
        data = out.read(size)
        if len(data) != size or out.read(1) != b"\n":
            return None
        return data


def _read_past(stream, count: int) -> bool:
    """Read and drop ``count`` bytes, a megabyte at a time; False if the stream ended first."""
    while count > 0:
        chunk = stream.read(min(count, 1 << 20))
        if not chunk:
            return False
        count -= len(chunk)
    return True


# cat-file's output pipe. At the default 64 kB git stops after a dozen small blobs while
# the worker scans a group; at 1 MB it runs ahead. On the 20,000-commit history: 4.45 s
# against 4.78 s (medians of 4, alternating), system time 0.7 against 1.05 s; requests and
# ib_async unchanged.
PIPE_BYTES = 1 << 20


def _widen(stream) -> None:
    """Give ``stream``'s pipe ``PIPE_BYTES`` (Linux; elsewhere, or past the system's
    limit, it keeps its size)."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError, ValueError):
        pass


PIPE_MIN_CAPACITY = 4096  # a pipe holds at least one page, even under the kernel's per-user pipe limits
_BATCH_COMMAND: bool | None = None


def _write_all(stream, payload: bytes) -> None:
    try:
        stream.write(payload)
        stream.flush()
    except (BrokenPipeError, ValueError, OSError):
        pass  # git died (the reader notices and restarts it) or the reader was closed


def is_null_id(sha: str) -> bool:
    """git's all-zero object id ("no object"), 40 or 64 digits long."""
    return bool(sha) and not sha.strip("0")


def supports_batch_command() -> bool:
    """git 2.36 or later (``cat-file --batch-command``)."""
    global _BATCH_COMMAND
    if _BATCH_COMMAND is None:
        try:
            words = subprocess.run(["git", "version"], capture_output=True, env=git_env(),
                                   check=False).stdout.split()
            version = words[words.index(b"version") + 1].decode("ascii", "replace")  # "2.39.5", "2.39.3 (Apple...)"
            numbers = tuple(int("".join(ch for ch in part if ch.isdigit()) or 0) for part in version.split(".")[:2])
        except (OSError, IndexError, ValueError):
            numbers = (0, 0)
        _BATCH_COMMAND = numbers >= (2, 36)
    return _BATCH_COMMAND


def _end(proc: subprocess.Popen) -> None:
    for stream in (proc.stdin, proc.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    proc.wait()


def vcs_details(repo: Repository) -> tuple[tuple[str, str], ...]:
    """``repositoryUri`` / ``revisionId`` / ``branch`` for SARIF ``versionControlProvenance``.

    The URI is GitHub's own in Actions, else ``remote.origin.url`` made into an
    ``https://`` URL without any user name or token in it, else the local path.
    """
    env = os.environ
    if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_REPOSITORY"):
        uri = f"{env.get('GITHUB_SERVER_URL', 'https://github.com').rstrip('/')}/{env['GITHUB_REPOSITORY']}"
    else:
        remote = repo.git("config", "--get", "remote.origin.url", check=False).decode("utf-8", "replace").strip()
        uri = public_remote_uri(remote) if remote else ""
        if not uri:
            from pathlib import Path

            uri = Path(repo.root).as_uri()
    details = {"repositoryUri": uri}
    head = repo.git("rev-parse", "--verify", "--quiet", "HEAD", check=False).decode("ascii", "replace").strip()
    if head:
        details["revisionId"] = head
    branch = repo.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False).decode("utf-8", "replace").strip()
    if branch:
        details["branch"] = branch
    return tuple(sorted(details.items()))


def public_remote_uri(remote: str) -> str:
    """``git@host:org/repo.git``, ``ssh://git@host/org/repo``, ``https://user:token@host/org/repo.git``
    -> ``https://host/org/repo``; a local path -> ``file://`` URI; ``""`` when it cannot tell."""
    from urllib.parse import urlsplit

    remote = remote.strip()
    if "://" not in remote and ":" in remote and not remote.startswith(("/", ".")):
        host, _, path = remote.partition(":")
        remote = f"ssh://{host}/{path.lstrip('/')}"
    if "://" in remote:
        parts = urlsplit(remote)
        if parts.scheme == "file":
            return remote
        host = parts.hostname or ""
        if not host:
            return ""
        web = parts.scheme in ("http", "https")
        port = f":{parts.port}" if parts.port and web else ""
        path = parts.path.rstrip("/").removesuffix(".git")
        return f"{parts.scheme if web else 'https'}://{host}{port}{path}"
    from pathlib import Path

    return Path(remote).resolve().as_uri() if remote else ""
