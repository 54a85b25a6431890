"""Process one task: read, filter, redact, decontaminate, hash. Runs in worker processes.

Per file, in order: bytes (size limit, regular file) → UTF-8 text (binary and
invalid UTF-8 rejected) → language → path/language/license policy → quality
filters → PII redaction → decontamination → exact-dedup hash and MinHash band
keys. The first failing step is the file's reason. Survivors become corpus
rows; dedup across files happens later (dedup.py) from the band keys.

A task's output is written as one set of stage files, the stats JSON last:
its presence is what marks the task finished for resume.
"""

from __future__ import annotations

import difflib
import json
import os
import signal
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import xxhash

from codelm.analysis.languages import detect_language
from codelm.data import licenses
from codelm.data.config import DataConfig
from codelm.data.corpus import line_stats, write_shard
from codelm.data.decontam import Decontaminator
from codelm.data.filters import is_vendored, language_reason, quality_reason
from codelm.data.minhash import MinHasher, band_keys, ngram_hashes, token_hashes
from codelm.data.pii import Redactor
from codelm.data.sources import CommitItem, GitBlobReader, Item, Task, git

# Extensions several languages share: here content-based detection (enry) beats the name.
AMBIGUOUS_EXTENSIONS = frozenset({".h", ".m", ".pl", ".t", ".v", ".pp", ".cl", ".d", ".fs", ".inc", ".s", ".r", ".sc"})
# go-enry spells languages like Linguist ("C++", "Emacs Lisp"); codelm names are lower-case-dashed
_ENRY_NAMES = {"c++": "cpp", "c#": "csharp", "f#": "fsharp"}
BINARY_SNIFF = 8192

COMMIT_REJECT_PREFIX = "commit_"


def _enry() -> Any | None:
    try:
        import enry
    except ImportError:
        return None
    return enry


def language_detector() -> str:
    """Which detector labels files here (recorded in the manifest: results differ slightly)."""
    return "builtin+enry" if _enry() is not None else "builtin"


class Reject(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail


@dataclass
class TaskResult:
    """Everything a task produces; `keys` rows align with `records`."""

    index: int
    records: list[dict[str, Any]] = field(default_factory=list)
    keys: list[np.ndarray] = field(default_factory=list)  # one (bands + 3,) uint64 row per record
    rejects: list[dict[str, str]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def key_array(self, width: int) -> np.ndarray:
        return np.stack(self.keys) if self.keys else np.zeros((0, width), dtype=np.uint64)


def empty_stats() -> dict[str, Any]:
    return {
        "files_in": 0, "kept": 0, "bytes_in": 0, "rejected": Counter(), "decontaminated": 0,
        "redactions": Counter(), "repo_files": Counter(), "repo_kept": Counter(), "commits_in": 0, "commit_records": 0,
        "commit_rejected": Counter(),
    }


def merge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    total = empty_stats()
    for part in parts:
        for key, value in part.items():
            if isinstance(total.get(key), Counter):
                total[key].update(value)
            elif key in total:
                total[key] += value
    return total


class Processor:
    """Per-process state built once from the config (regexes, benchmark index, permutations)."""

    def __init__(self, cfg: DataConfig) -> None:
        self.cfg = cfg
        self.redactor = Redactor(cfg.pii)
        self.decontam = Decontaminator(cfg.decontam) if cfg.decontam.enabled else None
        self.hasher = MinHasher(cfg.dedup.num_perm)
        self.enry = _enry()
        self.key_width = cfg.dedup.bands + 3

    # ---------------------------------------------------------------- reading
    def _read(self, item: Item, readers: dict[str, GitBlobReader]) -> bytes:
        limit = self.cfg.filters.max_file_bytes
        if item.size is not None and item.size > limit:
            raise Reject("too_large", f"{item.size} bytes > {limit}")
        if item.data is not None:
            return item.data
        if item.blob is not None and item.git_dir is not None:
            reader = readers.get(item.git_dir) or readers.setdefault(item.git_dir, GitBlobReader(item.git_dir))
            found = reader.read(item.blob)
            if found is None:
                raise Reject("unreadable", "missing git object")
            return found[1]
        assert item.file is not None
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then rejects it
            fd = os.open(item.file, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise Reject("unreadable", exc.strerror or "open failed") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise Reject("not_regular_file", "device, fifo or socket")
            if st.st_size > limit:
                raise Reject("too_large", f"{st.st_size} bytes > {limit}")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(limit + 1)
        except OSError as exc:
            raise Reject("unreadable", exc.strerror or "read failed") from None
        finally:
            os.close(fd)
        if len(data) > limit:  # grew while we read it
            raise Reject("too_large", f"more than {limit} bytes")
        return data

    @staticmethod
    def decode(data: bytes) -> str:
        if b"\0" in data[:BINARY_SNIFF]:
            raise Reject("binary", "NUL byte in the first 8 KiB")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Reject("invalid_utf8", f"byte {exc.start}") from None
        return text[1:] if text.startswith("\ufeff") else text

    def language(self, path: str, text: str) -> str | None:
        found = detect_language(path, text)
        if self.enry is not None and (found is None or PurePosixPath(path).suffix.lower() in AMBIGUOUS_EXTENSIONS):
            name = self.enry.get_language(PurePosixPath(path).name, text[:16384].encode("utf-8"))
            if name:
                lowered = name.lower()
                return _ENRY_NAMES.get(lowered, lowered.replace(" ", "-"))
        return found

    # ---------------------------------------------------------------- one file
    def process_file(self, item: Item, data: bytes, stats: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
        cfg = self.cfg
        text = self.decode(data)
        if cfg.filters.drop_vendored:
            vendored = is_vendored(item.path, cfg.filters.vendored_dirs)
            if vendored:
                raise Reject("vendored", f"under {vendored}/")
        language = self.language(item.path, text)
        refused = language_reason(language, cfg.filters)
        if refused:
            raise Reject(*refused)
        license = licenses.file_spdx(text) or item.license
        unknown_ok = license == licenses.UNKNOWN and cfg.license.allow_unknown
        if cfg.license.policy == "permissive" and not licenses.is_permissive(license) and not unknown_ok:
            raise Reject("license_policy", f"{license} is not permissive")
        language = language or "unknown"
        stats_text = line_stats(text)
        hashes = token_hashes(text)
        failed = quality_reason(text, language, stats_text, len(hashes), cfg.filters)
        if failed:
            raise Reject(*failed)
        redacted, counts = self.redactor.redact(text)
        if counts:
            stats["redactions"].update(counts)
            text = redacted
            stats_text = line_stats(text)
            hashes = token_hashes(text)
        if self.decontam is not None:
            hit = self.decontam.check(text, hashes)
            if hit:
                raise Reject("decontaminated", hit)
        record = {
            "repo": item.repo, "path": item.path, "language": language, "license": license, "content": text,
            **stats_text, "hash": xxhash.xxh3_128_hexdigest(text.encode("utf-8")),
        }
        return record, self._keys(text, hashes, item.repo, license)

    def _keys(self, text: str, hashes: np.ndarray, repo: str, license: str) -> np.ndarray:
        """[band keys..., exact hash, license rank, repo hash] for dedup."""
        dd = self.cfg.dedup
        row = np.zeros(self.key_width, dtype=np.uint64)
        if dd.near:
            shingles = np.unique(ngram_hashes(hashes, dd.ngram))
            signature = self.hasher.signature(shingles)
            row[: dd.bands] = band_keys(signature[None, :], dd.bands, dd.rows)[0]
        # exact duplicates: same text up to whitespace (re-indented or re-wrapped copies)
        row[dd.bands] = xxhash.xxh3_64_intdigest(" ".join(text.split()).encode("utf-8"))
        row[dd.bands + 1] = licenses.rank(license)
        row[dd.bands + 2] = xxhash.xxh3_64_intdigest(repo.encode("utf-8"))
        return row

    # ---------------------------------------------------------------- commits
    def process_commit(self, item: CommitItem, readers: dict[str, GitBlobReader], stats: dict[str, Any]) -> list[dict[str, Any]]:
        stats["commits_in"] += 1
        if item.reject:
            stats["commit_rejected"][item.reject] += 1
            return []
        reader = readers.get(item.git_dir) or readers.setdefault(item.git_dir, GitBlobReader(item.git_dir))
        found = reader.read(item.commit)
        if found is None or found[0] != "commit":
            stats["commit_rejected"]["unreadable"] += 1
            return []
        message = found[1].partition(b"\n\n")[2].decode("utf-8", errors="replace").strip()
        if not message:
            stats["commit_rejected"]["empty_message"] += 1
            return []
        args = ["diff-tree", "-r", "-z", "--no-renames", "--no-commit-id", "--raw"]
        args += [item.parents[0], item.commit] if item.parents else ["--root", item.commit]
        listed = git(item.git_dir, *args)
        if listed.returncode != 0:
            stats["commit_rejected"]["broken_git_repo"] += 1
            return []
        fields = listed.stdout.split(b"\0")
        changes = []
        for i in range(0, len(fields) - 1, 2):
            meta = fields[i].decode().lstrip(":").split()  # old mode, new mode, old sha, new sha, status
            if len(meta) == 5 and not {meta[0], meta[1]} & {"120000", "160000"}:  # no symlinks, submodules
                changes.append((meta[2], meta[3], meta[4], fields[i + 1].decode("utf-8", errors="replace")))
        if not changes:
            stats["commit_rejected"]["no_changes"] += 1
            return []
        if len(changes) > item.max_files:
            stats["commit_rejected"]["too_many_files"] += 1
            return []
        message, counts = self.redactor.redact(message)
        stats["redactions"].update(counts)
        records = []
        for old, new, status, path in changes:
            if status[0] not in "AMD":
                continue
            try:
                before = self._blob_text(reader, old)
                after = self._blob_text(reader, new)
            except Reject as exc:
                stats["commit_rejected"][f"file_{exc.reason}"] += 1
                continue
            before, c1 = self.redactor.redact(before)
            after, c2 = self.redactor.redact(after)
            stats["redactions"].update(c1)
            stats["redactions"].update(c2)
            diff = "".join(
                difflib.unified_diff(
                    before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
                )
            )
            records.append({
                "repo": item.repo, "commit": item.commit, "message": message, "path": path,
                "language": self.language(path, after or before) or "unknown", "license": item.license,
                "before": before, "after": after, "diff": diff,
            })
        stats["commit_records"] += len(records)
        return records

    def _blob_text(self, reader: GitBlobReader, sha: str) -> str:
        if set(sha) == {"0"}:  # added or deleted side
            return ""
        found = reader.read(sha)
        if found is None:
            raise Reject("unreadable", "missing git object")
        if len(found[1]) > self.cfg.filters.max_file_bytes:
            raise Reject("too_large")
        return self.decode(found[1])

    # ---------------------------------------------------------------- one task
    def run(self, task: Task) -> TaskResult:
        result = TaskResult(task.index, stats=empty_stats())
        stats = result.stats
        marker = task.params.get("crash_marker", "").encode()
        readers: dict[str, GitBlobReader] = {}
        try:
            for item in task.items:
                if isinstance(item, CommitItem):
                    result.commits += self.process_commit(item, readers, stats)
                    continue
                stats["files_in"] += 1
                stats["repo_files"][item.repo] += 1
                try:
                    if item.reject:
                        raise Reject(item.reject, item.detail)
                    data = self._read(item, readers)
                    stats["bytes_in"] += len(data)
                    if marker and marker in data:
                        os.kill(os.getpid(), signal.SIGKILL)  # test hook: a worker killed on one file
                    record, keys = self.process_file(item, data, stats)
                except Reject as exc:
                    if exc.reason == "decontaminated":
                        stats["decontaminated"] += 1
                    else:
                        stats["rejected"][exc.reason] += 1
                    result.rejects.append({"repo": item.repo, "path": item.path, "reason": exc.reason, "detail": exc.detail})
                    continue
                result.records.append(record)
                result.keys.append(keys)
                stats["kept"] += 1
                stats["repo_kept"][item.repo] += 1
        finally:
            for reader in readers.values():
                reader.close()
        return result


_PROCESSORS: dict[str, Processor] = {}


def processor_for(cfg: DataConfig) -> Processor:
    """The process-wide Processor of this config (built on first use in each worker)."""
    key = cfg.model_dump_json()
    if key not in _PROCESSORS:
        _PROCESSORS.clear()
        _PROCESSORS[key] = Processor(cfg)
    return _PROCESSORS[key]


# --------------------------------------------------------------------------- stage files


def stage_name(stage_dir: str | Path, index: int, suffix: str) -> Path:
    return Path(stage_dir) / f"task-{index:06d}{suffix}"


def write_stage(stage_dir: str | Path, result: TaskResult, key_width: int) -> dict[str, Any]:
    """Write a task's stage files (stats JSON last: the done marker). Returns the stats."""
    from codelm.data.corpus import COMMIT_SCHEMA

    index = result.index
    write_shard(result.records, stage_name(stage_dir, index, ".parquet"))
    keys_path = stage_name(stage_dir, index, ".keys.npy")
    tmp = keys_path.with_name(f".{keys_path.name}.tmp")
    with tmp.open("wb") as fh:
        np.save(fh, result.key_array(key_width))
    tmp.replace(keys_path)
    _write_lines(stage_name(stage_dir, index, ".rejects.jsonl"), result.rejects)
    if result.commits:
        write_shard(result.commits, stage_name(stage_dir, index, ".commits.parquet"), schema=COMMIT_SCHEMA)
    stats = {k: dict(sorted(v.items())) if isinstance(v, Counter) else v for k, v in result.stats.items()}
    stats.update(index=index, docs=len(result.records), commit_rows=len(result.commits))
    _write_lines(stage_name(stage_dir, index, ".json"), [stats])
    return stats


def _write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
    tmp.replace(path)


def run_task(task: Task, cfg: DataConfig, stage_dir: str | None) -> TaskResult | dict[str, Any]:
    """Executor entry point: with `stage_dir` write the stage files and return stats,
    else return the whole result (used when a crashed task is salvaged piecewise)."""
    processor = processor_for(cfg)
    result = processor.run(task)
    if stage_dir is None:
        return result
    return write_stage(stage_dir, result, processor.key_width)

