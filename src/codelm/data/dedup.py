"""Exact and near-duplicate removal across the whole corpus, from band files on disk.

Input: each finished task's key file, one row per kept document:
`[band key 0..B-1, exact hash, license rank, repo hash]`. Documents get dense
ids in task order (task offsets + row), so ids are the same whatever the
worker count.

1. Exact: (hash, id) entries are spread over bucket files by hash; each
   bucket is sorted and every group of equal hashes keeps one document.
2. Near: (band key, id) entries of the remaining documents go to bucket
   files the same way; in each bucket, documents sharing a band key are
   candidate pairs (all pairs for small groups, a star plus a chain for
   large ones so a boilerplate group cannot explode quadratically). A pair
   is joined in the union-find only if its *real* Jaccard over 5-gram
   shingles reaches the threshold: LSH false positives never merge
   unrelated files. Pairs already in one cluster are not re-verified.
3. Keep rule (REFERENCE.md): most permissive license, then the larger
   repository (more files), then the first document in input order.

Memory: one bucket at a time (`bucket_entries` rows, 32 bytes each) plus the
union-find over documents that have a verified near-duplicate; it does not
grow with the corpus beyond the bucket files on disk.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import xxhash

from codelm.data.config import DedupConfig
from codelm.data.minhash import jaccard, shingle_set

ENTRY = np.dtype([("key", "<u8"), ("id", "<i8"), ("lic", "<u8"), ("neg_size", "<i8")])
ALL_PAIRS_MAX = 32  # groups up to this size are verified pair by pair


@dataclass
class DedupResult:
    removed: np.ndarray  # sorted dense ids of dropped documents, int64
    keeper: np.ndarray  # the surviving copy of each removed id, int64
    near: np.ndarray  # True: near duplicate, False: exact duplicate
    stats: dict[str, int] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> DedupResult:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), np.zeros(0, dtype=bool))

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """Index into `removed` for each id, -1 when the id is kept."""
        if len(self.removed) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.removed, ids), len(self.removed) - 1)
        return np.where(self.removed[pos] == ids, pos, -1)


class UnionFind:
    """Union-find over the ids that ever appear in a verified pair (dict-backed)."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class ShingleCache:
    """Shingle sets by dense id, read back from the stage shards (a few shards cached)."""

    def __init__(self, shard_paths: list[Path], offsets: np.ndarray, ngram: int, max_shards: int = 4) -> None:
        self.paths, self.offsets, self.ngram = shard_paths, offsets, ngram
        self.shards: OrderedDict[int, list[str]] = OrderedDict()
        self.sets: OrderedDict[int, np.ndarray] = OrderedDict()
        self.max_shards = max_shards

    def text(self, doc: int) -> str:
        shard = int(np.searchsorted(self.offsets, doc, side="right")) - 1
        if shard not in self.shards:
            self.shards[shard] = pq.read_table(self.paths[shard], columns=["content"]).column(0).to_pylist()
            if len(self.shards) > self.max_shards:
                self.shards.popitem(last=False)
        self.shards.move_to_end(shard)
        return self.shards[shard][doc - int(self.offsets[shard])]

    def shingles(self, doc: int) -> np.ndarray:
        if doc not in self.sets:
            self.sets[doc] = shingle_set(self.text(doc), self.ngram)
            if len(self.sets) > 4096:
                self.sets.popitem(last=False)
        self.sets.move_to_end(doc)
        return self.sets[doc]


def _group_pairs(ids: np.ndarray) -> Iterator[tuple[int, int]]:
    """Candidate pairs inside one group of documents sharing a band key."""
    members = ids.tolist()
    if len(members) <= ALL_PAIRS_MAX:
        yield from combinations(members, 2)
        return
    first = members[0]
    for i, other in enumerate(members[1:], 1):
        yield first, other
        if i + 1 < len(members):
            yield other, members[i + 1]


class _Buckets:
    """Append-only bucket files of ENTRY rows, partitioned by key."""

    def __init__(self, root: Path, prefix: str, count: int) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.paths = [root / f"{prefix}-{i:04d}.bin" for i in range(count)]
        self.files = [p.open("wb") for p in self.paths]

    def add(self, entries: np.ndarray) -> None:
        if len(self.files) == 1:
            entries.tofile(self.files[0])
            return
        bucket = entries["key"] % np.uint64(len(self.files))
        for b in np.unique(bucket).tolist():
            entries[bucket == b].tofile(self.files[b])

    def __iter__(self) -> Iterator[np.ndarray]:
        for fh in self.files:
            fh.close()
        for path in self.paths:
            entries = np.fromfile(path, dtype=ENTRY)
            path.unlink()
            yield entries


def _sorted_groups(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by (key, license rank, -repo size, id); return entries and a group-start mask."""
    order = np.lexsort((entries["id"], entries["neg_size"], entries["lic"], entries["key"]))
    entries = entries[order]
    starts = np.ones(len(entries), dtype=bool)
    starts[1:] = entries["key"][1:] != entries["key"][:-1]
    return entries, starts


def deduplicate(
    key_files: list[Path],
    shard_paths: list[Path],
    docs: list[int],
    repo_files: dict[str, int],
    cfg: DedupConfig,
    work_dir: Path,
    progress: Callable[[str], None] | None = None,
) -> DedupResult:
    """Find exact and near duplicates over all tasks (see the module docstring)."""
    offsets = np.concatenate(([0], np.cumsum(docs, dtype=np.int64)))
    total = int(offsets[-1])
    stats = {"candidate_pairs": 0, "verified_pairs": 0, "near_clusters": 0}
    if total == 0 or not (cfg.exact or cfg.near):
        result = DedupResult.empty()
        result.stats = stats
        return result
    size_of = {xxhash.xxh3_64_intdigest(repo.encode("utf-8")): n for repo, n in repo_files.items()}
    B = cfg.bands

    def task_entries(t: int) -> tuple[np.ndarray, np.ndarray]:
        """A task's key matrix and its entries (id, license rank, -repo size), key unset."""
        keys = np.load(key_files[t])
        entries = np.zeros(len(keys), dtype=ENTRY)
        entries["id"] = offsets[t] + np.arange(len(keys), dtype=np.int64)
        entries["lic"] = keys[:, B + 1]
        entries["neg_size"] = -np.array([size_of.get(h, 0) for h in keys[:, B + 2].tolist()], dtype=np.int64)
        return keys, entries

    # ---- exact groups
    removed_ids: list[np.ndarray] = []
    keepers: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    if cfg.exact:
        buckets = _Buckets(work_dir, "exact", max(1, math.ceil(total / cfg.bucket_entries)))
        for t in range(len(key_files)):
            keys, entries = task_entries(t)
            entries["key"] = keys[:, B]
            buckets.add(entries)
        for entries in buckets:
            entries, starts = _sorted_groups(entries)
            first_of = np.maximum.accumulate(np.where(starts, np.arange(len(entries)), 0))
            dup = ~starts
            removed_ids.append(entries["id"][dup])
            keepers.append(entries["id"][first_of][dup])
            kinds.append(np.zeros(int(dup.sum()), dtype=bool))
    exact_removed = np.sort(np.concatenate(removed_ids)) if removed_ids else np.zeros(0, dtype=np.int64)
    if progress:
        progress(f"exact duplicates: {len(exact_removed)}")

    # ---- near clusters
    if cfg.near:
        buckets = _Buckets(work_dir, "band", max(1, math.ceil(total * B / cfg.bucket_entries)))
        for t in range(len(key_files)):
            keys, entries = task_entries(t)
            if len(exact_removed):  # exact copies are already decided; only their keeper takes part
                pos = np.minimum(np.searchsorted(exact_removed, entries["id"]), len(exact_removed) - 1)
                keep = exact_removed[pos] != entries["id"]
                keys, entries = keys[keep], entries[keep]
            for band in range(B):
                entries["key"] = keys[:, band]
                buckets.add(entries)
        cache = ShingleCache(shard_paths, offsets, cfg.ngram)
        uf = UnionFind()
        rejected: set[tuple[int, int]] = set()
        meta: dict[int, tuple[int, int]] = {}
        for entries in buckets:
            if len(entries) < 2:
                continue
            order = np.lexsort((entries["id"], entries["key"]))
            entries = entries[order]
            same = entries["key"][1:] == entries["key"][:-1]
            if not same.any():
                continue
            starts = np.flatnonzero(np.concatenate(([True], ~same)))
            ends = np.append(starts[1:], len(entries))
            for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
                if e - s < 2:
                    continue
                group = entries[s:e]
                for doc, lic, neg in zip(group["id"].tolist(), group["lic"].tolist(), group["neg_size"].tolist(), strict=True):
                    meta[doc] = (lic, neg)
                for a, b in _group_pairs(group["id"]):
                    stats["candidate_pairs"] += 1
                    if (a, b) in rejected or uf.find(a) == uf.find(b):
                        continue
                    if jaccard(cache.shingles(a), cache.shingles(b)) >= cfg.threshold:
                        stats["verified_pairs"] += 1
                        uf.union(a, b)
                    else:
                        rejected.add((a, b))
        clusters: dict[int, list[int]] = {}
        for doc in sorted(uf.parent):
            clusters.setdefault(uf.find(doc), []).append(doc)
        near_removed, near_keeper = [], []
        for members in clusters.values():
            if len(members) < 2:
                continue
            stats["near_clusters"] += 1
            keep = min(members, key=lambda d: (meta[d][0], meta[d][1], d))
            for doc in members:
                if doc != keep:
                    near_removed.append(doc)
                    near_keeper.append(keep)
        if near_removed:
            removed_ids.append(np.array(near_removed, dtype=np.int64))
            keepers.append(np.array(near_keeper, dtype=np.int64))
            kinds.append(np.ones(len(near_removed), dtype=bool))
    if not removed_ids:
        result = DedupResult.empty()
        result.stats = stats
        return result
    removed = np.concatenate(removed_ids)
    keeper = np.concatenate(keepers)
    near = np.concatenate(kinds)
    order = np.argsort(removed, kind="stable")
    result = DedupResult(removed[order], keeper[order], near[order], stats)
    # an exact group's keeper may itself be a near duplicate: point at the final survivor
    # (near keepers are never removed, so one step reaches it)
    idx = result.lookup(result.keeper)
    hit = idx >= 0
    result.keeper[hit] = result.keeper[idx[hit]]
    stats["exact"] = int((~result.near).sum())
    stats["near"] = int(result.near.sum())
    return result
