"""Corpus-builder benchmark: whole pipeline on the standard library, MinHash+LSH vs datasketch.

1. `codelm data build --source stdlib --out DIR --workers N` as a subprocess (the
   acceptance command, start-up included): files/s, MB/s (bytes read), and
   whether the manifest adds up (files_in = files_out + rejected + duplicates
   + decontaminated).
2. MinHash + LSH alone, on the same standard-library text files, single
   process, side by side in this run: codelm's vectorised signatures and
   sorted band keys against datasketch `MinHash` + `MinHashLSH` with the same
   parameters (word 5-grams on `\\W+`, 256 permutations, 25 bands × 10 rows).
   Ground truth: exact Jaccard of every pair (sparse intersection counts);
   recall = share of true pairs (J >= 0.7) that the LSH index proposes.
3. Per-core throughput of the filter stages (quality filters, PII redaction,
   decontamination) on the same files.

Prints one JSON document. Usage: python benchmarks/bench_data.py [--workers 2] [--skip-build]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np

from codelm.data.config import DataConfig, DecontamConfig, FilterConfig
from codelm.data.corpus import line_stats
from codelm.data.decontam import Decontaminator
from codelm.data.filters import quality_reason
from codelm.data.minhash import MinHasher, band_keys, jaccard, ngram_hashes, token_hashes, tokens
from codelm.data.pii import Redactor
from codelm.data.sources import iter_items

NUM_PERM, BANDS, ROWS, NGRAM, THRESHOLD = 256, 25, 10, 5, 0.7


def stdlib_texts(limit_bytes: int = 1_000_000) -> list[tuple[str, str]]:
    """(path, text) of every UTF-8 text file of the standard library (the build's own listing)."""
    texts = []
    for item in iter_items(DataConfig().sources[0]):
        if item.reject or item.file is None:
            continue
        try:
            data = Path(item.file).read_bytes()
        except OSError:
            continue
        if len(data) > limit_bytes or b"\0" in data[:8192]:
            continue
        try:
            texts.append((item.path, data.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    return texts


def bench_build(workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "corpus"
        cmd = [sys.executable, "-m", "codelm", "data", "build", "--source", "stdlib", "--out", str(out),
               "--workers", str(workers), "--quiet"]
        started = time.perf_counter()
        subprocess.run(cmd, check=True, timeout=900, capture_output=True)
        seconds = time.perf_counter() - started
        manifest = json.loads((out / "manifest.json").read_text())
        log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    dropped = sum(manifest["rejected"].values()) + sum(manifest["duplicates"].values()) + manifest["decontaminated"]
    phases = {e["event"]: e.get("seconds") for e in log if e["event"] in ("mapped", "deduplicated", "done")}
    return {
        "command": " ".join(["codelm", *cmd[3:]]),
        "workers": workers,
        "seconds": round(seconds, 2),
        "files_in": manifest["files_in"],
        "files_out": manifest["files_out"],
        "mb_in": round(manifest["bytes_in"] / 1e6, 2),
        "files_per_s": round(manifest["files_in"] / seconds, 1),
        "mb_per_s": round(manifest["bytes_in"] / 1e6 / seconds, 2),
        "manifest_adds_up": manifest["files_in"] == manifest["files_out"] + dropped,
        "duplicates": manifest["duplicates"],
        "decontaminated": manifest["decontaminated"],
        "rejected": sum(manifest["rejected"].values()),
        "phase_seconds": phases,
        "under_2_minutes": seconds < 120,
    }


# ---------------------------------------------------------------- MinHash + LSH


def codelm_lsh(texts: list[str]) -> tuple[set[tuple[int, int]], dict[str, float]]:
    hasher = MinHasher(NUM_PERM)
    t0 = time.perf_counter()
    keys = np.empty((len(texts), BANDS), dtype=np.uint64)
    for i, text in enumerate(texts):
        shingles = np.unique(ngram_hashes(token_hashes(text), NGRAM))
        keys[i] = band_keys(hasher.signature(shingles)[None, :], BANDS, ROWS)[0]
    t1 = time.perf_counter()
    # the index: sort each band's keys, every run of equal keys is a candidate group
    pairs: set[tuple[int, int]] = set()
    for band in range(BANDS):
        order = np.argsort(keys[:, band], kind="stable")
        sorted_keys = keys[order, band]
        starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
        ends = np.append(starts[1:], len(order))
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if e - s > 1:
                pairs.update(combinations(sorted(order[s:e].tolist()), 2))
    t2 = time.perf_counter()
    return pairs, {"signatures_s": t1 - t0, "index_s": t2 - t1, "total_s": t2 - t0}


def datasketch_lsh(texts: list[str]) -> tuple[set[tuple[int, int]], dict[str, float]]:
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    sketches = []
    for text in texts:
        words = tokens(text)
        grams = {" ".join(words[i : i + NGRAM]) for i in range(max(len(words) - NGRAM + 1, 1))} if words else set()
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch([g.encode("utf-8") for g in grams])
        sketches.append(m)
    t1 = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, params=(BANDS, ROWS))
    for i, m in enumerate(sketches):
        lsh.insert(i, m)
    pairs = set()
    for i, m in enumerate(sketches):
        for j in lsh.query(m):
            if j != i:
                pairs.add((min(i, j), max(i, j)))
    t2 = time.perf_counter()
    return pairs, {"signatures_s": t1 - t0, "index_s": t2 - t1, "total_s": t2 - t0}


def true_pairs(texts: list[str]) -> tuple[set[tuple[int, int]], int]:
    """All pairs with exact Jaccard >= THRESHOLD (sparse intersection counts, then exact check)."""
    from scipy import sparse

    sets = [np.unique(ngram_hashes(token_hashes(t), NGRAM)) for t in texts]
    allh = np.concatenate(sets)
    vocab, inverse = np.unique(allh, return_inverse=True)
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    matrix = sparse.csr_matrix((np.ones(len(allh), dtype=np.int32), (rows, inverse)), shape=(len(sets), len(vocab)))
    inter = (matrix @ matrix.T).tocoo()
    sizes = np.array([len(s) for s in sets])
    upper = inter.row < inter.col
    i, j, k = inter.row[upper], inter.col[upper], inter.data[upper]
    jac = k / (sizes[i] + sizes[j] - k)
    found = {(int(a), int(b)) for a, b in zip(i[jac >= THRESHOLD], j[jac >= THRESHOLD], strict=True)}
    for a, b in list(found)[:50]:  # spot-check against the library's exact Jaccard
        assert jaccard(sets[a], sets[b]) >= THRESHOLD
    return found, len(texts) * (len(texts) - 1) // 2


def cluster_recall(texts: list[str], candidates: set[tuple[int, int]], truth: set[tuple[int, int]]) -> float:
    """Share of true pairs that end in one cluster after verification + union-find (as dedup.py does)."""
    sets = [np.unique(ngram_hashes(token_hashes(t), NGRAM)) for t in texts]
    parent = list(range(len(texts)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in sorted(candidates):
        if find(a) != find(b) and jaccard(sets[a], sets[b]) >= THRESHOLD:
            parent[max(find(a), find(b))] = min(find(a), find(b))
    return sum(find(a) == find(b) for a, b in truth) / max(len(truth), 1)


def bench_lsh(texts: list[tuple[str, str]]) -> dict:
    docs = [t for _, t in texts]
    mb = sum(len(t.encode()) for t in docs) / 1e6
    ours, our_t = codelm_lsh(docs)
    theirs, their_t = datasketch_lsh(docs)
    truth, all_pairs = true_pairs(docs)
    recall = lambda cand: sum(p in cand for p in truth) / max(len(truth), 1)  # noqa: E731
    return {
        "files": len(docs),
        "mb": round(mb, 2),
        "true_pairs_j>=0.7": len(truth),
        "all_pairs": all_pairs,
        "codelm": {
            "seconds": round(our_t["total_s"], 2),
            "signature_mb_per_s": round(mb / our_t["signatures_s"], 2),
            "candidate_pairs": len(ours),
            "recall": round(recall(ours), 4),
            "cluster_recall_after_verification": round(cluster_recall(docs, ours, truth), 4),
        },
        "datasketch": {
            "seconds": round(their_t["total_s"], 2),
            "signature_mb_per_s": round(mb / their_t["signatures_s"], 2),
            "candidate_pairs": len(theirs),
            "recall": round(recall(theirs), 4),
        },
        "speedup_vs_datasketch": round(their_t["total_s"] / our_t["total_s"], 2),
        "signature_speedup": round(their_t["signatures_s"] / our_t["signatures_s"], 2),
    }


# ---------------------------------------------------------------- filters


def bench_filters(texts: list[tuple[str, str]]) -> dict:
    docs = [t for _, t in texts]
    mb = sum(len(t.encode()) for t in docs) / 1e6
    cfg = FilterConfig()
    redactor = Redactor()
    decontam = Decontaminator(DecontamConfig())
    out = {}
    t = time.perf_counter()
    counts_of_tokens = [len(token_hashes(text)) for text in docs]
    out["tokenize_and_hash_mb_per_s"] = round(mb / (time.perf_counter() - t), 1)  # shared by filters and MinHash
    t = time.perf_counter()
    for text, n_tokens in zip(docs, counts_of_tokens, strict=True):
        quality_reason(text, "python", line_stats(text), n_tokens, cfg)
    out["quality_filters_mb_per_s"] = round(mb / (time.perf_counter() - t), 1)
    t = time.perf_counter()
    counts: dict[str, int] = defaultdict(int)
    for text in docs:
        for k, v in redactor.redact(text)[1].items():
            counts[k] += v
    out["pii_mb_per_s"] = round(mb / (time.perf_counter() - t), 1)
    out["pii_redactions"] = dict(sorted(counts.items()))
    t = time.perf_counter()
    hits = sum(decontam.check(text) is not None for text in docs)
    out["decontam_mb_per_s"] = round(mb / (time.perf_counter() - t), 1)
    out["decontam_hits"] = hits
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-build", action="store_true", help="only the MinHash/LSH and filter benchmarks")
    args = parser.parse_args()
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "load_avg_1m": os.getloadavg()[0]},
    }
    if not args.skip_build:
        result["build"] = bench_build(args.workers)
    texts = stdlib_texts()
    result["minhash_lsh"] = bench_lsh(texts)
    result["filters_per_core"] = bench_filters(texts)
    result["machine"]["load_avg_1m_end"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
