"""Source readers: turn each configured input into a stream of work items.

Readers run in the main process and only *list*: a directory reader yields
paths, a git reader yields blob ids, so workers do the reading in parallel.
Archives and JSONL/Parquet records are read here (they are sequential
streams) and travel inline. Listing is deterministic (sorted walks, archive
order, file order): task N always holds the same items, which is what makes
a killed build resumable to identical output.

Bad input never stops a build: an unreadable directory, a symlink loop, a
broken repository or archive becomes an item pre-rejected with its reason.
"""

from __future__ import annotations

import fnmatch
import gzip
import heapq
import io
import json
import os
import posixpath
import stat
import subprocess
import sysconfig
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from codelm.data.config import SourceConfig
from codelm.data.licenses import UNKNOWN, normalise, repo_license, repo_license_from_files
from codelm.errors import InputError

# Never part of a source tree: VCS metadata and byte-code caches.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__"})
STDLIB_REPO = "python-stdlib"
GIT_TIMEOUT_S = 120


@dataclass(slots=True)
class Item:
    """One input file. Exactly one of file / blob / data says where its bytes are."""

    repo: str
    path: str
    license: str = UNKNOWN
    file: str | None = None
    git_dir: str | None = None
    blob: str | None = None
    data: bytes | None = None
    size: int | None = None
    reject: str | None = None
    detail: str = ""


@dataclass(slots=True)
class CommitItem:
    """One commit of a git history source; the worker expands it into per-file records."""

    repo: str
    git_dir: str
    commit: str
    parents: list[str]
    license: str = UNKNOWN
    reject: str | None = None
    max_files: int = 8


@dataclass
class Task:
    """A work unit: consecutive items, processed and written as one shard."""

    index: int
    items: list[Item | CommitItem]
    params: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def _selected(path: str, cfg: SourceConfig) -> bool:
    if cfg.include and not any(fnmatch.fnmatch(path, pat) for pat in cfg.include):
        return False
    return not any(fnmatch.fnmatch(path, pat) for pat in cfg.exclude)


def _sample(items: Iterable[Item], cfg: SourceConfig, seed: int) -> Iterator[Item]:
    """All items, or with `max_files` the N whose seeded hash of (repo, path) is smallest.

    A hash sample spreads over the whole tree (the first N files of a sorted
    walk would all be `__future__`, `_collections_abc`, ...), and is stable:
    adding files elsewhere does not reshuffle the sample. Output keeps listing order.
    """
    if cfg.max_files is None:
        yield from items
        return
    heap: list[tuple[int, int, Item]] = []  # max-heap on hash via negation
    for order, item in enumerate(items):
        key = -xxhash.xxh3_64_intdigest(f"sample\0{seed}\0{item.repo}\0{item.path}".encode())
        if len(heap) < cfg.max_files:
            heapq.heappush(heap, (key, order, item))
        elif key > heap[0][0]:
            heapq.heapreplace(heap, (key, order, item))
    for _, _, item in sorted(heap, key=lambda entry: entry[1]):
        yield item


def _clean_member(name: str) -> str:
    """An archive member name as a safe relative path (`/x`, `../x` -> `x`)."""
    parts = [p for p in posixpath.normpath(name.replace("\\", "/")).split("/") if p not in ("", ".", "..")]
    return "/".join(parts)


# --------------------------------------------------------------------------- directories


def _walk(root: Path, follow_symlinks: bool) -> Iterator[tuple[str, str | None, str | None, str]]:
    """(relative path, absolute path, reject reason, detail), depth first, sorted by name."""
    visited: set[tuple[int, int]] = set()
    try:
        st = root.stat()
        visited.add((st.st_dev, st.st_ino))
    except OSError as exc:
        raise InputError(f"source directory '{root}' is unreadable: {exc.strerror}") from None

    def walk(directory: Path, rel: str) -> Iterator[tuple[str, str | None, str | None, str]]:
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield rel or ".", None, "unreadable", f"directory: {exc.strerror}"
            return
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError as exc:
                yield child, None, "unreadable", exc.strerror or "stat failed"
                continue
            if is_dir:
                if entry.name in SKIP_DIRS:
                    continue
                if is_link:
                    if not follow_symlinks:
                        yield child, None, "symlink", "symlinked directory (follow_symlinks: false)"
                        continue
                    try:
                        st = os.stat(entry.path)
                    except OSError as exc:  # ELOOP for a self-referencing link
                        yield child, None, "symlink_loop", exc.strerror or "unresolvable"
                        continue
                    key = (st.st_dev, st.st_ino)
                    if key in visited:
                        yield child, None, "symlink_loop", "directory already visited"
                        continue
                    visited.add(key)
                else:
                    try:
                        st = entry.stat(follow_symlinks=False)
                        visited.add((st.st_dev, st.st_ino))
                    except OSError:
                        pass
                yield from walk(Path(entry.path), child)
            elif is_link and not os.path.exists(entry.path):
                yield child, None, "unreadable", "broken symlink"
            else:
                yield child, entry.path, None, ""

    yield from walk(root, "")


def _dir_items(
    root: Path, repo: str, license: str, cfg: SourceConfig, prune: frozenset[str] = frozenset()
) -> Iterator[Item]:
    for rel, abs_path, reason, detail in _walk(root, cfg.follow_symlinks):
        if prune and rel.split("/", 1)[0] in prune:
            continue
        if not _selected(rel, cfg):
            continue
        if reason is not None:
            yield Item(repo, rel, license, reject=reason, detail=detail)
        else:
            yield Item(repo, rel, license, file=abs_path)


def dir_source(cfg: SourceConfig, seed: int) -> Iterator[Item]:
    root = Path(cfg.path or ".")
    if not root.is_dir():
        raise InputError(f"source directory '{root}' does not exist; fix the path")
    name = cfg.repo or root.resolve().name
    if cfg.repo_depth == 0:
        license = normalise(cfg.license) if cfg.license else repo_license(root)
        yield from _sample(_dir_items(root, name, license, cfg), cfg, seed)
        return

    def per_repo() -> Iterator[Item]:
        # repo_depth 1: every subdirectory is a repository; loose top-level files belong to `name`
        license_top = normalise(cfg.license) if cfg.license else repo_license(root)
        for entry in sorted(root.iterdir(), key=lambda p: p.name):
            if entry.name in SKIP_DIRS:
                continue
            if entry.is_dir() and not entry.is_symlink():
                license = normalise(cfg.license) if cfg.license else repo_license(entry)
                yield from _dir_items(entry, entry.name, license, cfg)
            elif entry.is_file() and _selected(entry.name, cfg):
                yield Item(name, entry.name, license_top, file=str(entry))

    yield from _sample(per_repo(), cfg, seed)


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_source(cfg: SourceConfig, seed: int) -> Iterator[Item]:
    """The running Python's standard library (third-party site-packages excluded)."""
    root = Path(cfg.path) if cfg.path else stdlib_root()
    license = normalise(cfg.license) if cfg.license else repo_license(root)
    if license == UNKNOWN:
        license = "PSF-2.0"  # the standard library is PSF-licensed even where LICENSE.txt is not installed
    repo = cfg.repo or STDLIB_REPO
    items = _dir_items(root, repo, license, cfg, prune=frozenset({"site-packages", "dist-packages"}))
    yield from _sample(items, cfg, seed)


# --------------------------------------------------------------------------- git


def git(git_dir: str, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", git_dir, *args], input=input, capture_output=True, timeout=GIT_TIMEOUT_S, check=False
    )


class GitBlobReader:
    """A persistent `git cat-file --batch`: one process serves every blob of a task."""

    def __init__(self, git_dir: str) -> None:
        self.proc = subprocess.Popen(
            ["git", "-C", git_dir, "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def read(self, sha: str) -> tuple[str, bytes] | None:
        """(object type, content), or None when the object is missing."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(sha.encode() + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) != 3:
            return None
        size = int(header[2])
        data = self.proc.stdout.read(size)
        self.proc.stdout.read(1)  # the newline after the object
        return header[1].decode(), data

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _parse_tree_record(record: bytes) -> tuple[str, str, str, int | None, str]:
    meta, _, path = record.partition(b"\t")
    mode, kind, sha, size = meta.decode().split()
    return mode, kind, sha, None if size == "-" else int(size), path.decode("utf-8", errors="replace")


def _git_top_level(git_dir: str) -> list[tuple[str, str, str, int | None, str]] | str:
    """HEAD's top-level entries (mode, type, sha, size, name), or an error line for a broken repo."""
    head = git(git_dir, "rev-parse", "--verify", "HEAD^{commit}")
    if head.returncode != 0:
        return (head.stderr.decode(errors="replace").strip().splitlines() or ["no HEAD commit"])[0]
    listing = git(git_dir, "ls-tree", "-z", "--long", "HEAD")
    if listing.returncode != 0:
        return (listing.stderr.decode(errors="replace").strip().splitlines() or ["ls-tree failed"])[0]
    return [_parse_tree_record(r) for r in listing.stdout.split(b"\0") if r]


def _git_tree(git_dir: str) -> Iterator[tuple[str, str, str, int | None, str]]:
    """HEAD's whole tree, streamed from `git ls-tree -r` (a huge repository is never held in memory)."""
    proc = subprocess.Popen(
        ["git", "-C", git_dir, "ls-tree", "-r", "-z", "--long", "--full-tree", "HEAD"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    pending = b""
    try:
        while chunk := proc.stdout.read(1 << 16):
            *records, pending = (pending + chunk).split(b"\0")
            for record in records:
                if record:
                    yield _parse_tree_record(record)
        if pending:
            yield _parse_tree_record(pending)
        proc.stdout.close()
        if proc.wait(timeout=GIT_TIMEOUT_S) != 0:  # a corrupt tree object part-way: report, keep the rest
            yield "", "error", "", None, ""
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def git_source(cfg: SourceConfig, seed: int) -> Iterator[Item | CommitItem]:
    path = Path(cfg.path or ".")
    if not path.exists():
        raise InputError(f"git source '{path}' does not exist; fix the path")
    git_dir = str(path)
    repo = cfg.repo or path.resolve().name
    top = _git_top_level(git_dir)
    if isinstance(top, str):
        yield Item(repo, "", reject="broken_git_repo", detail=top)
        return
    license = normalise(cfg.license) if cfg.license else _git_license(git_dir, top)

    def items() -> Iterator[Item]:
        for mode, kind, sha, size, rel in _git_tree(git_dir):
            if kind == "commit":  # a submodule: another repository, not a file of this one
                continue
            if kind == "error":
                yield Item(repo, "", license, reject="broken_git_repo", detail="git ls-tree failed part-way")
                continue
            if not _selected(rel, cfg):
                continue
            if mode == "120000":
                yield Item(repo, rel, license, reject="symlink", detail="symlink in git tree")
            else:
                yield Item(repo, rel, license, git_dir=git_dir, blob=sha, size=size)

    yield from _sample(items(), cfg, seed)
    if cfg.history:
        yield from _git_commits(git_dir, repo, license, cfg)


def _git_license(git_dir: str, top: list[tuple[str, str, str, int | None, str]]) -> str:
    from codelm.data.licenses import LICENSE_FILE, README_FILE

    files: dict[str, str] = {}
    reader = GitBlobReader(git_dir)
    try:
        for _, kind, sha, size, name in top:
            if kind == "blob" and (LICENSE_FILE.match(name) or README_FILE.match(name)):
                if size is not None and size > 256_000:
                    continue
                found = reader.read(sha)
                if found is not None:
                    files[name] = found[1].decode("utf-8", errors="replace")
    finally:
        reader.close()
    return repo_license_from_files(files)


def _git_commits(git_dir: str, repo: str, license: str, cfg: SourceConfig) -> Iterator[CommitItem]:
    """Non-merge commits reachable from HEAD, newest first; shallow boundaries rejected."""
    shallow: set[str] = set()
    common = git(git_dir, "rev-parse", "--git-common-dir")
    if common.returncode == 0:
        shallow_file = Path(git_dir) / common.stdout.decode().strip() / "shallow"
        if shallow_file.is_file():
            shallow = set(shallow_file.read_text().split())
    args = ["git", "-C", git_dir, "rev-list", "--no-merges", "--parents", "HEAD"]
    if cfg.max_commits is not None:
        args.insert(4, f"--max-count={cfg.max_commits}")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:  # streamed: a long history is never held in memory
            sha, *parents = line.decode().split()
            reject = "shallow_boundary" if sha in shallow else None
            yield CommitItem(repo, git_dir, sha, parents, license, reject=reject, max_files=cfg.max_commit_files)
    finally:
        proc.stdout.close()
        proc.wait(timeout=GIT_TIMEOUT_S)


# --------------------------------------------------------------------------- archives


def _archive_repo(path: Path, cfg: SourceConfig) -> str:
    if cfg.repo:
        return cfg.repo
    name = path.name
    for suffix in sorted((".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".tar", ".zip"), key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _strip_root(names: list[str]) -> str:
    """The single top-level directory all members share (GitHub tarballs), or ''."""
    tops = {n.split("/", 1)[0] for n in names if n}
    if len(tops) == 1 and all("/" in n for n in names if n):
        return tops.pop() + "/"
    return ""


def archive_source(cfg: SourceConfig, seed: int) -> Iterator[Item]:
    path = Path(cfg.path or "")
    if not path.is_file():
        raise InputError(f"archive source '{path}' does not exist; fix the path")
    repo = _archive_repo(path, cfg)
    if zipfile.is_zipfile(path):
        yield from _sample(_zip_items(path, repo, cfg), cfg, seed)
    else:
        yield from _sample(_tar_items(path, repo, cfg), cfg, seed)


def _license_of_members(members: dict[str, bytes], cfg: SourceConfig) -> str:
    if cfg.license:
        return normalise(cfg.license)
    return repo_license_from_files({k: v.decode("utf-8", errors="replace") for k, v in members.items()})


def _zip_items(path: Path, repo: str, cfg: SourceConfig) -> Iterator[Item]:
    from codelm.data.licenses import LICENSE_FILE, README_FILE

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        yield Item(repo, path.name, reject="broken_archive", detail=str(exc))
        return
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        root = _strip_root([_clean_member(i.filename) for i in infos])
        top: dict[str, bytes] = {}
        for info in infos:
            rel = _clean_member(info.filename)[len(root) :]
            if "/" not in rel and (LICENSE_FILE.match(rel) or README_FILE.match(rel)) and info.file_size < 256_000:
                try:
                    top[rel] = archive.read(info)
                except (zipfile.BadZipFile, OSError, RuntimeError, EOFError):
                    continue
        license = _license_of_members(top, cfg)
        total = 0
        for count, info in enumerate(infos):
            rel = _clean_member(info.filename)[len(root) :]
            if not rel or not _selected(rel, cfg):
                continue
            if count >= cfg.max_archive_members or total + info.file_size > cfg.max_archive_bytes:
                yield Item(repo, rel, license, reject="archive_limit",
                           detail=f"archive limits reached after {count} members / {total} bytes")
                return
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > cfg.max_compression_ratio and info.file_size > 1 << 20:
                yield Item(repo, rel, license, reject="archive_bomb", detail=f"compression ratio {ratio:.0f}")
                continue
            mode = (info.external_attr >> 16) & 0o170000
            if mode == stat.S_IFLNK:
                yield Item(repo, rel, license, reject="symlink", detail="symlink in archive")
                continue
            total += info.file_size
            try:
                data = archive.read(info)
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, ValueError) as exc:
                yield Item(repo, rel, license, reject="unreadable", detail=f"zip member: {exc}")
                continue
            yield Item(repo, rel, license, data=data, size=len(data))


def _tar_items(path: Path, repo: str, cfg: SourceConfig) -> Iterator[Item]:
    """Two streaming passes: member names + license files, then contents.

    Streaming mode (`r|*`) never seeks, so a compressed tarball is read
    front to back; a member over the size limit is skipped from its header.
    """
    from codelm.data.licenses import LICENSE_FILE, README_FILE

    names: list[str] = []
    top_raw: dict[str, bytes] = {}
    try:  # pass 1 stops quietly at damage; pass 2 reports it after yielding what came before
        with tarfile.open(path, "r|*") as archive:
            for count, member in enumerate(archive):
                if count >= cfg.max_archive_members:
                    break
                if member.isfile() or member.issym() or member.islnk():
                    name = _clean_member(member.name)
                    names.append(name)
                    base = name.rsplit("/", 1)[-1]
                    if member.isfile() and name.count("/") <= 1 and member.size < 256_000 and (
                        LICENSE_FILE.match(base) or README_FILE.match(base)
                    ):
                        fh = archive.extractfile(member)
                        if fh is not None:
                            top_raw[name] = fh.read()
    except (tarfile.TarError, OSError, EOFError, ValueError):
        pass
    root = _strip_root(names)
    top = {k[len(root) :]: v for k, v in top_raw.items() if k.startswith(root) and "/" not in k[len(root) :]}
    license = _license_of_members(top, cfg)
    total = 0
    try:
        with tarfile.open(path, "r|*") as archive:
            for count, member in enumerate(archive):
                rel = _clean_member(member.name)[len(root) :]
                if member.isdir() or not rel or not _selected(rel, cfg):
                    continue
                if count >= cfg.max_archive_members or total + member.size > cfg.max_archive_bytes:
                    yield Item(repo, rel, license, reject="archive_limit",
                               detail=f"archive limits reached after {count} members / {total} bytes")
                    return
                if member.issym() or member.islnk():
                    yield Item(repo, rel, license, reject="symlink", detail="link in archive")
                    continue
                if not member.isfile():
                    yield Item(repo, rel, license, reject="not_regular_file", detail="device or fifo in archive")
                    continue
                total += member.size
                fh = archive.extractfile(member)
                data = fh.read() if fh is not None else b""
                yield Item(repo, rel, license, data=data, size=len(data))
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        yield Item(repo, path.name, license, reject="broken_archive", detail=f"truncated: {exc}")


# --------------------------------------------------------------------------- records


def _record_item(rec: object, where: str, default_repo: str, cfg: SourceConfig) -> Item:
    if not isinstance(rec, dict):
        return Item(default_repo, where, reject="malformed_record", detail="not an object")
    content = rec.get(cfg.content_field)
    if not isinstance(content, str):
        return Item(default_repo, where, reject="malformed_record", detail=f"no string '{cfg.content_field}'")
    repo = rec.get(cfg.repo_field) or cfg.repo or default_repo
    path = rec.get(cfg.path_field) or where
    license = rec.get(cfg.license_field) or cfg.license or UNKNOWN
    data = content.encode("utf-8", errors="surrogatepass")
    return Item(str(repo), str(path), normalise(str(license)), data=data, size=len(data))


def jsonl_source(cfg: SourceConfig, seed: int) -> Iterator[Item]:
    path = Path(cfg.path or "")
    if not path.is_file():
        raise InputError(f"JSONL source '{path}' does not exist; fix the path")
    default_repo = cfg.repo or path.name.split(".")[0]

    def records() -> Iterator[Item]:
        opener = gzip.open if path.name.endswith(".gz") else open
        try:
            with opener(path, "rb") as fh:
                head = fh.read(1 << 16).lstrip()
                fh.seek(0)
                if head.startswith(b"["):  # a JSON array, not JSONL
                    try:
                        rows = json.load(io.TextIOWrapper(fh, encoding="utf-8"))
                    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                        yield Item(default_repo, path.name, reject="malformed_record", detail=str(exc))
                        return
                    for i, rec in enumerate(rows if isinstance(rows, list) else []):
                        yield _record_item(rec, f"{path.name}:{i}", default_repo, cfg)
                    return
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    where = f"{path.name}:{lineno}"
                    try:
                        rec = json.loads(line)
                    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                        yield Item(default_repo, where, reject="malformed_record", detail=str(exc).split(":")[0])
                        continue
                    yield _record_item(rec, where, default_repo, cfg)
        except (OSError, EOFError) as exc:
            yield Item(default_repo, path.name, reject="unreadable", detail=str(exc))

    yield from _sample(records(), cfg, seed)


def parquet_source(cfg: SourceConfig, seed: int) -> Iterator[Item]:
    import pyarrow.parquet as pq

    path = Path(cfg.path or "")
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    if not path.exists() or not files:
        raise InputError(f"Parquet source '{path}' does not exist or holds no .parquet files; fix the path")
    default_repo = cfg.repo or path.name.split(".")[0]

    def records() -> Iterator[Item]:
        for file in files:
            try:
                parquet = pq.ParquetFile(file)
                present = set(parquet.schema_arrow.names)
                columns = [c for c in (cfg.content_field, cfg.path_field, cfg.repo_field, cfg.license_field) if c in present]
                row = 0
                for batch in parquet.iter_batches(batch_size=512, columns=columns):
                    for rec in batch.to_pylist():
                        yield _record_item(rec, f"{file.name}:{row}", default_repo, cfg)
                        row += 1
            except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on corrupt files
                yield Item(default_repo, file.name, reject="unreadable", detail=str(exc).splitlines()[0])

    yield from _sample(records(), cfg, seed)


READERS = {
    "stdlib": stdlib_source,
    "dir": dir_source,
    "git": git_source,
    "archive": archive_source,
    "jsonl": jsonl_source,
    "parquet": parquet_source,
}


def iter_items(cfg: SourceConfig, seed: int = 0) -> Iterator[Item | CommitItem]:
    """Every work item of one source, in its deterministic order."""
    return READERS[cfg.kind](cfg, seed)


def iter_tasks(sources: list[SourceConfig], task_files: int, seed: int = 0, params: dict[str, str] | None = None) -> Iterator[Task]:
    """Items of all sources in order, cut into tasks of `task_files` items."""
    index = 0
    batch: list[Item | CommitItem] = []
    for source in sources:
        for item in iter_items(source, seed):
            batch.append(item)
            if len(batch) >= task_files:
                yield Task(index, batch, dict(params or {}))
                index, batch = index + 1, []
    if batch:
        yield Task(index, batch, dict(params or {}))
