"""`build_corpus`: sources → filtered, redacted, deduplicated, decontaminated, split Parquet.

Three phases, each restartable:

1. map (parallel): sources are listed into tasks of `task_files` items; each
   task is read, filtered, redacted, decontaminated and hashed by a worker and
   written to `OUT/.build/tasks/task-NNNNNN.*` (stats JSON last). A killed
   build re-lists the sources (deterministic) and skips finished tasks.
2. dedup (main process): exact and MinHash-LSH near duplicates over all
   tasks' key files, from bucket files on disk (dedup.py).
3. write (main process): stage rows minus duplicates are split and written
   as `OUT/<split>/part-NNNNN.parquet` (CORPUS_SCHEMA), rejects.jsonl,
   manifest.json and report.html. It only reads the stage files, so its
   output is byte-identical however phase 1 was interrupted or parallelised.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import xxhash

from codelm import __version__
from codelm.data.config import DataConfig
from codelm.data.corpus import COMMIT_SCHEMA, SPLITS, write_shard
from codelm.data.dedup import DedupResult, deduplicate
from codelm.data.executors import WorkerCrash, make_executor
from codelm.data.report import render, size_histogram
from codelm.data.sources import CommitItem, Item, Task, iter_tasks
from codelm.data.split import SplitAssigner
from codelm.data.worker import (
    TaskResult,
    empty_stats,
    language_detector,
    merge_stats,
    run_task,
    stage_name,
    write_stage,
)
from codelm.errors import ConfigError
from codelm.progress import progress_bar
from codelm.runs import RunDir, atomic_write_text

FORMAT_VERSION = 1
CRASH_MARKER_ENV = "CODELM_DATA_CRASH_MARKER"  # test hook: a worker dies on files containing it
WORK = ".build"
OUTPUTS = (*SPLITS, "commits", "manifest.json", "rejects.jsonl", "report.html", "config.yaml", "log.jsonl", "summary.md", WORK)

Manifest = dict[str, Any]


def fingerprint(config: DataConfig) -> str:
    """Identity of a build: resuming with a different config would mix two corpora."""
    blob = json.dumps({"format": FORMAT_VERSION, "config": config.model_dump(mode="json")}, sort_keys=True)
    return xxhash.xxh3_128_hexdigest(blob.encode("utf-8"))


def _prepare(out: Path, fp: str, overwrite: bool) -> Manifest | None:
    """Check OUT; return the existing manifest when the same build is already complete."""
    manifest_path = out / "manifest.json"
    work_fp = out / WORK / "fingerprint"
    if manifest_path.is_file():
        existing = json.loads(manifest_path.read_text(encoding="utf-8"))
        if existing.get("fingerprint") == fp and not overwrite:
            return existing
        if not overwrite:
            raise ConfigError(f"'{out}' holds a corpus built with another config; pass --overwrite or another --out")
    elif work_fp.is_file():
        if work_fp.read_text().strip() != fp and not overwrite:
            raise ConfigError(f"'{out}' holds an unfinished build with another config; pass --overwrite or another --out")
    elif out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"'{out}' is not empty and holds no codelm corpus; choose an empty --out or pass --overwrite")
    if overwrite:
        for name in OUTPUTS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    return None


def _crashed(task: Task, item: Item | CommitItem, why: str) -> TaskResult:
    result = TaskResult(task.index, stats=empty_stats())
    if isinstance(item, CommitItem):
        result.stats["commits_in"] += 1
        result.stats["commit_rejected"]["worker_crash"] += 1
    else:
        result.stats["files_in"] += 1
        result.stats["repo_files"][item.repo] += 1
        result.stats["rejected"]["worker_crash"] += 1
        result.rejects.append({"repo": item.repo, "path": item.path, "reason": "worker_crash", "detail": why})
    return result


def salvage(executor: Any, task: Task, config: DataConfig) -> TaskResult:
    """Rerun a crashed task alone; while it still crashes, split it to find the killing files.

    Every good file of the task survives; each file that kills a worker by
    itself is rejected as `worker_crash`. Results keep item order, so the
    stage files match what a crash-free run would write for the same files.
    """
    parts: list[TaskResult] = []

    def solve(items: list[Item | CommitItem]) -> None:
        try:
            parts.append(executor.run_isolated(run_task, Task(task.index, items, task.params), config, None))
        except WorkerCrash as exc:
            if len(items) == 1:
                parts.append(_crashed(task, items[0], str(exc)))
            else:
                mid = len(items) // 2
                solve(items[:mid])
                solve(items[mid:])

    solve(task.items)
    merged = TaskResult(task.index, stats=merge_stats([p.stats for p in parts]))
    for part in parts:
        merged.records += part.records
        merged.keys += part.keys
        merged.rejects += part.rejects
        merged.commits += part.commits
    return merged


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def build_corpus(
    config: DataConfig,
    out_dir: str | Path,
    workers: int | None = None,
    executor: str = "process",
    *,
    ray_address: str | None = None,
    overwrite: bool = False,
    info: Callable[[str], None] | None = None,
) -> Manifest:
    """Build the corpus of `config` into `out_dir`; returns the manifest (also in manifest.json).

    workers: processes (None: one per CPU; 0: in this process). executor:
    "process" (concurrent.futures) or "ray" (`ray_address`, or a local Ray).
    Re-running on a killed build resumes it; on a finished one returns its manifest.
    """
    say = info or (lambda message: None)
    out = Path(out_dir)
    fp = fingerprint(config)
    existing = _prepare(out, fp, overwrite)
    if existing is not None:
        say(f"{out} is already built with this config")
        return existing
    run = RunDir.at(out)
    work = out / WORK
    stage = work / "tasks"
    stage.mkdir(parents=True, exist_ok=True)
    atomic_write_text(work / "fingerprint", fp + "\n")
    run.save_config(config)
    started = time.monotonic()

    # ---- phase 1: map
    done = {int(p.name[5:11]) for p in stage.glob("task-*.json")}
    params = {"crash_marker": os.environ[CRASH_MARKER_ENV]} if os.environ.get(CRASH_MARKER_ENV) else {}
    listed = [0]

    def todo() -> Iterator[Task]:
        for task in iter_tasks(config.sources, config.task_files, config.seed, params):
            listed[0] = task.index + 1
            if task.index not in done:
                yield task

    pool = make_executor(executor, workers, config.task_timeout_s, ray_address)
    run.log("start", fingerprint=fp, executor=pool.name, workers=pool.workers, resumed_tasks=len(done))
    if done:
        say(f"resuming: {len(done)} finished tasks kept")
    salvaged = 0
    key_width = config.dedup.bands + 3
    try:
        with progress_bar("reading, filtering, hashing") as bar:
            for task, outcome in pool.imap(run_task, todo(), config, str(stage)):
                if isinstance(outcome, WorkerCrash):
                    salvaged += 1
                    run.log("salvage", task=task.index, why=str(outcome))
                    write_stage(stage, salvage(pool, task, config), key_width)
                bar.advance(len(task.items))
    finally:
        pool.close()
    n_tasks = listed[0]
    t_map = time.monotonic() - started
    run.log("mapped", tasks=n_tasks, salvaged=salvaged, seconds=round(t_map, 3))

    # ---- phase 2: dedup
    task_stats = [json.loads(stage_name(stage, i, ".json").read_text(encoding="utf-8")) for i in range(n_tasks)]
    totals = merge_stats([{k: Counter(v) if isinstance(v, dict) else v for k, v in s.items()} for s in task_stats])
    say(f"deduplicating {totals['kept']} files")
    dedup = deduplicate(
        [stage_name(stage, i, ".keys.npy") for i in range(n_tasks)],
        [stage_name(stage, i, ".parquet") for i in range(n_tasks)],
        [s["docs"] for s in task_stats],
        dict(totals["repo_files"]),
        config.dedup,
        work / "dedup",
    )
    t_dedup = time.monotonic() - started - t_map
    run.log("deduplicated", seconds=round(t_dedup, 3), **dedup.stats)

    # ---- phase 3: write
    manifest, decontaminated, sizes = _write_outputs(config, out, work, n_tasks, task_stats, totals, dedup)
    manifest["fingerprint"] = fp
    if config.report:
        atomic_write_text(out / "report.html", render(manifest, sizes, decontaminated))
    run.write_json("manifest.json", manifest)
    seconds = time.monotonic() - started
    run.log("done", seconds=round(seconds, 3), files_out=manifest["files_out"])
    run.write_summary(_summary(manifest, seconds, n_tasks, len(done), salvaged))
    if not config.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def _write_outputs(
    config: DataConfig,
    out: Path,
    work: Path,
    n_tasks: int,
    task_stats: list[dict[str, Any]],
    totals: dict[str, Any],
    dedup: DedupResult,
) -> tuple[Manifest, list[dict[str, str]], np.ndarray]:
    stage = work / "tasks"
    staging = work / "out"
    if staging.exists():
        shutil.rmtree(staging)
    assigner = SplitAssigner(config.split, config.seed, dict(totals["repo_kept"]))
    offsets = np.concatenate(([0], np.cumsum([s["docs"] for s in task_stats], dtype=np.int64)))

    # where each surviving copy lives, for the duplicates' reject detail
    keeper_name: dict[int, str] = {}
    wanted = np.unique(dedup.keeper)
    for t in range(n_tasks):
        lo, hi = offsets[t], offsets[t + 1]
        inside = wanted[(wanted >= lo) & (wanted < hi)]
        if len(inside):
            table = pq.read_table(stage_name(stage, t, ".parquet"), columns=["repo", "path"])
            repos, paths = table.column("repo").to_pylist(), table.column("path").to_pylist()
            for doc in inside.tolist():
                keeper_name[doc] = f"{repos[doc - lo]}/{paths[doc - lo]}"

    buffers: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    shard_index = dict.fromkeys(SPLITS, 0)
    split_counts: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    licenses: Counter[str] = Counter()
    bytes_out = 0
    sizes = np.zeros(len(size_histogram([])), dtype=np.int64)
    decontaminated: list[dict[str, str]] = []

    def flush(split: str, final: bool = False) -> None:
        rows = buffers[split]
        while len(rows) >= config.shard_size or (final and rows):
            batch, rows = rows[: config.shard_size], rows[config.shard_size :]
            write_shard(batch, staging / split / f"part-{shard_index[split]:05d}.parquet")
            shard_index[split] += 1
        buffers[split] = rows

    rejects_tmp = work / "rejects.jsonl.tmp"
    with rejects_tmp.open("w", encoding="utf-8") as rejects:
        for t in range(n_tasks):
            for row in _read_jsonl(stage_name(stage, t, ".rejects.jsonl")):
                rejects.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
                if row["reason"] == "decontaminated":
                    decontaminated.append(row)
            parquet = pq.ParquetFile(stage_name(stage, t, ".parquet"))
            doc = int(offsets[t])
            for batch in parquet.iter_batches(batch_size=1024):
                rows = batch.to_pylist()
                where = dedup.lookup(np.arange(doc, doc + len(rows), dtype=np.int64))
                batch_sizes = []
                for row, hit in zip(rows, where.tolist(), strict=True):
                    if hit >= 0:
                        kind = "duplicate_near" if dedup.near[hit] else "duplicate_exact"
                        kept = keeper_name.get(int(dedup.keeper[hit]), "?")
                        reject = {"repo": row["repo"], "path": row["path"], "reason": kind, "detail": f"kept {kept}"}
                        rejects.write(json.dumps(reject, sort_keys=True, ensure_ascii=False) + "\n")
                        continue
                    split = assigner(row["repo"], row["path"])
                    buffers[split].append(row)
                    split_counts[split] += 1
                    languages[row["language"]] += 1
                    licenses[row["license"]] += 1
                    bytes_out += row["size"]
                    batch_sizes.append(row["size"])
                    if len(buffers[split]) >= config.shard_size:
                        flush(split)
                sizes += size_histogram(batch_sizes)
                doc += len(rows)
    for split in SPLITS:
        flush(split, final=True)

    commit_splits = _write_commits(stage, staging, n_tasks, assigner, config.shard_size)

    # move into place: a kill before this point leaves the previous outputs (if any) untouched
    for name in (*SPLITS, "commits"):
        target = out / name
        if target.exists():
            shutil.rmtree(target)
        if (staging / name).exists():
            (staging / name).replace(target)
    rejects_tmp.replace(out / "rejects.jsonl")

    files_out = sum(split_counts.values())
    rejected = dict(sorted(totals["rejected"].items()))
    manifest: Manifest = {
        "files_in": totals["files_in"],
        "files_out": files_out,
        "bytes_out": bytes_out,
        "rejected": rejected,
        "languages": dict(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))),
        "licenses": dict(sorted(licenses.items(), key=lambda kv: (-kv[1], kv[0]))),
        "duplicates": {"exact": int((~dedup.near).sum()), "near": int(dedup.near.sum())},
        "decontaminated": totals["decontaminated"],
        "splits": {s: split_counts.get(s, 0) for s in SPLITS},
        "split_by": assigner.by,
        "redactions": dict(sorted(totals["redactions"].items())),
        "dedup": dedup.stats,
        "bytes_in": totals["bytes_in"],
        "language_detector": language_detector(),
        "codelm_version": __version__,
    }
    if totals["commits_in"]:
        manifest["commits"] = {
            "in": totals["commits_in"],
            "records": totals["commit_records"],
            "rejected": dict(sorted(totals["commit_rejected"].items())),
            "splits": commit_splits,
        }
    manifest["config"] = config.model_dump(mode="json")
    accounted = files_out + sum(rejected.values()) + sum(manifest["duplicates"].values()) + manifest["decontaminated"]
    assert accounted == manifest["files_in"], f"manifest does not add up: {accounted} != {manifest['files_in']}"
    return manifest, decontaminated, sizes


def _write_commits(stage: Path, staging: Path, n_tasks: int, assigner: SplitAssigner, shard_size: int) -> dict[str, int]:
    """Commit records to `commits/<split>-NNNNN.parquet`, split like files (by repo or by commit)."""
    buffers: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    index = dict.fromkeys(SPLITS, 0)
    counts = dict.fromkeys(SPLITS, 0)

    def flush(split: str, final: bool = False) -> None:
        while len(buffers[split]) >= shard_size or (final and buffers[split]):
            batch, buffers[split] = buffers[split][:shard_size], buffers[split][shard_size:]
            write_shard(batch, staging / "commits" / f"{split}-{index[split]:05d}.parquet", schema=COMMIT_SCHEMA)
            index[split] += 1

    for t in range(n_tasks):
        path = stage_name(stage, t, ".commits.parquet")
        if not path.exists():
            continue
        for batch in pq.ParquetFile(path).iter_batches(batch_size=512):
            for row in batch.to_pylist():
                split = assigner(row["repo"], row["commit"])
                buffers[split].append(row)
                counts[split] += 1
                flush(split)
    for split in SPLITS:
        flush(split, final=True)
    return counts


def _summary(manifest: Manifest, seconds: float, tasks: int, resumed: int, salvaged: int) -> str:
    rejected = "\n".join(f"| {k} | {v} |" for k, v in manifest["rejected"].items()) or "| none | 0 |"
    splits = ", ".join(f"{k} {v}" for k, v in manifest["splits"].items())
    return f"""# Corpus build

- files in: {manifest['files_in']}, files out: {manifest['files_out']} ({manifest['bytes_out']} bytes)
- duplicates: {manifest['duplicates']['exact']} exact, {manifest['duplicates']['near']} near; decontaminated: {manifest['decontaminated']}
- splits (by {manifest['split_by']}): {splits}
- redactions: {manifest['redactions'] or 'none'}
- {tasks} tasks ({resumed} resumed, {salvaged} salvaged after a worker crash) in {seconds:.1f} s

| rejected reason | files |
|---|---|
{rejected}

See manifest.json, rejects.jsonl and report.html.
"""
