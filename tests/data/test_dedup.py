"""Exact and near dedup through real builds: planted copies cluster, look-alikes never merge."""

from __future__ import annotations

import json

import pytest

from codelm.data.corpus import iter_documents
from codelm.data.minhash import jaccard, shingle_set
from codelm.data.pipeline import build_corpus


def output_paths(out) -> set[str]:
    paths = set()
    for split in ("train", "validation", "test"):
        if (out / split).is_dir():
            paths |= {d["path"] for d in iter_documents(out, split, columns=("path",))}
    return paths


def duplicate_rejects(out) -> dict[str, tuple[str, str]]:
    rows = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    return {r["path"]: (r["reason"], r["detail"]) for r in rows if r["reason"].startswith("duplicate")}


@pytest.fixture
def planted(tmp_path, make_program, make_edit, tree):
    """45 distinct modules of one shape, 4 near-copies of two of them, 1 re-indented exact copy."""
    files = {f"a_orig_{i:02d}.py": make_program(i) for i in range(45)}
    files["b_copy_0a.py"] = make_edit(make_program(0), seed=100)
    files["b_copy_0b.py"] = make_edit(make_program(0), seed=101)
    files["b_copy_0c.py"] = make_edit(make_edit(make_program(0), seed=102), seed=103, lines=1)
    files["b_copy_1a.py"] = make_edit(make_program(1), seed=104, lines=3)
    files["c_reindented_2.py"] = make_program(2).replace("    ", "\t").replace("\n", "  \n")
    return tree(tmp_path / "src", files), files


def test_planted_near_duplicates_cluster_and_distinct_files_do_not(planted, tmp_path, config):
    root, files = planted
    # the planted copies really are near-duplicates, the originals really are distinct
    assert jaccard(shingle_set(files["a_orig_00.py"]), shingle_set(files["b_copy_0a.py"])) > 0.8
    assert max(
        jaccard(shingle_set(files[f"a_orig_{i:02d}.py"]), shingle_set(files[f"a_orig_{j:02d}.py"]))
        for i in range(10) for j in range(i + 1, 10)
    ) < 0.2
    manifest = build_corpus(config([{"kind": "dir", "path": str(root)}]), tmp_path / "out", workers=0)
    assert manifest["duplicates"] == {"exact": 1, "near": 4}
    assert manifest["files_out"] == 45
    assert output_paths(tmp_path / "out") == {f"a_orig_{i:02d}.py" for i in range(45)}
    assert duplicate_rejects(tmp_path / "out") == {
        "b_copy_0a.py": ("duplicate_near", "kept src/a_orig_00.py"),
        "b_copy_0b.py": ("duplicate_near", "kept src/a_orig_00.py"),
        "b_copy_0c.py": ("duplicate_near", "kept src/a_orig_00.py"),
        "b_copy_1a.py": ("duplicate_near", "kept src/a_orig_01.py"),
        "c_reindented_2.py": ("duplicate_exact", "kept src/a_orig_02.py"),
    }


def test_lsh_false_positives_are_verified_away(planted, tmp_path, config):
    """1-row bands make nearly every pair a candidate; real Jaccard still merges only the copies."""
    root, _ = planted
    loose = config([{"kind": "dir", "path": str(root)}], dedup={"rows": 1, "bucket_entries": 1024})
    manifest = build_corpus(loose, tmp_path / "out", workers=0)
    assert manifest["dedup"]["candidate_pairs"] > 500  # of 1225 distinct pairs among 50 files
    assert manifest["duplicates"] == {"exact": 1, "near": 4}
    assert output_paths(tmp_path / "out") == {f"a_orig_{i:02d}.py" for i in range(45)}


def test_many_buckets_give_the_same_result(planted, tmp_path, config):
    root, _ = planted
    source = [{"kind": "dir", "path": str(root)}]
    one = build_corpus(config(source), tmp_path / "one", workers=0)
    many = build_corpus(config(source, dedup={"bucket_entries": 1024}), tmp_path / "many", workers=0)
    assert many["duplicates"] == one["duplicates"]
    assert duplicate_rejects(tmp_path / "many") == duplicate_rejects(tmp_path / "one")


def test_keep_rule_license_then_repo_size_then_order(tmp_path, make_program, make_edit, tree, config):
    mit = "Permission is hereby granted, free of charge, to any person obtaining a copy\n"
    gpl = "GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n"
    shared = make_program(0)
    files = {
        # alpha: GPL, the largest repository, first in order
        "alpha/LICENSE": gpl, **{f"alpha/m{i}.py": make_program(100 + i) for i in range(6)},
        "alpha/copy.py": shared,
        # beta: MIT, two files
        "beta/LICENSE": mit, "beta/m0.py": make_program(200), "beta/copy.py": make_edit(shared, 1),
        # gamma: MIT, four files -> most permissive and larger than beta: kept
        "gamma/LICENSE": mit, **{f"gamma/m{i}.py": make_program(300 + i) for i in range(3)},
        "gamma/copy.py": make_edit(shared, 2),
        # delta: MIT, four files, later in order than gamma
        "delta/LICENSE": mit, **{f"delta/m{i}.py": make_program(400 + i) for i in range(3)},
        "delta/zcopy.py": make_edit(shared, 3),
    }
    root = tree(tmp_path / "repos", files)
    cfg = config([{"kind": "dir", "path": str(root), "repo_depth": 1}], filters={"keep_unknown_language": False})
    manifest = build_corpus(cfg, tmp_path / "out", workers=0)
    assert manifest["duplicates"]["near"] == 3
    kept = "kept delta/zcopy.py"  # delta precedes gamma in sorted order and ties on license and size
    rows = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    dups = sorted((r["repo"], r["reason"], r["detail"]) for r in rows if r["reason"] == "duplicate_near")
    assert dups == [
        ("alpha", "duplicate_near", kept),
        ("beta", "duplicate_near", kept),
        ("gamma", "duplicate_near", kept),
    ]
    assert manifest["licenses"]["GPL-3.0"] == 6  # alpha lost its copy (and its 9-token LICENSE)
    # the three identical MIT LICENSE files are exact duplicates of one another
    assert manifest["duplicates"]["exact"] == 2
