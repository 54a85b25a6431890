"""Whole builds: manifest accounting, outputs, splits, resume after a kill, dead workers, Ray, memory, CLI."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from codelm.cli.main import main
from codelm.data.corpus import CORPUS_SCHEMA, SPLITS, iter_documents
from codelm.data.pipeline import CRASH_MARKER_ENV, build_corpus
from codelm.errors import ConfigError

MARKER = "KILL-THE-WORKER-HERE"


def shard_bytes(out: Path) -> dict[str, bytes]:
    """Every output Parquet shard's bytes, by relative path."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("*/*.parquet"))}


def rejects(out: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]


def test_stdlib_subset_manifest_adds_up_and_outputs_load(tmp_path, config):
    cfg = config([{"kind": "stdlib", "max_files": 70}], task_files=35, report=True)
    manifest = build_corpus(cfg, tmp_path / "out", workers=0)
    out = tmp_path / "out"
    dropped = sum(manifest["rejected"].values()) + sum(manifest["duplicates"].values()) + manifest["decontaminated"]
    assert manifest["files_in"] == 70 == manifest["files_out"] + dropped
    assert sum(manifest["splits"].values()) == manifest["files_out"] == sum(manifest["languages"].values())
    assert manifest["split_by"] == "file"  # one repository
    assert set(manifest["licenses"]) <= {"PSF-2.0", "MIT"} and manifest["licenses"]["PSF-2.0"] > 35
    # rejects.jsonl names every dropped file with its reason
    rows = rejects(out)
    assert len(rows) == dropped
    assert all(set(r) == {"repo", "path", "reason", "detail"} for r in rows)
    assert sorted({r["reason"] for r in rows} - {"duplicate_exact", "duplicate_near"}) == sorted(manifest["rejected"])
    # shards follow the corpus contract and load with plain `datasets`
    for shard in out.glob("*/*.parquet"):
        assert pq.read_schema(shard).equals(CORPUS_SCHEMA)
    loaded = datasets.load_dataset("parquet", data_dir=str(out))
    assert {k: v.num_rows for k, v in loaded.items()} == {k: v for k, v in manifest["splits"].items() if v}
    assert manifest["bytes_out"] == sum(d["size"] for s in SPLITS if (out / s).is_dir()
                                        for d in iter_documents(out, s, columns=("size",)))
    # the report stands alone: three embedded PNG plots, nothing fetched
    html = (out / "report.html").read_text()
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', html)) == 3
    assert "http" not in html
    assert {"config.yaml", "log.jsonl", "summary.md", "manifest.json"} <= {p.name for p in out.iterdir()}
    assert not (out / ".build").exists()


def test_splits_are_disjoint_by_repository(tmp_path, make_program, tree, config):
    files = {f"repo{r:02d}/m{i}.py": make_program(100 * r + i) for r in range(12) for i in range(3)}
    root = tree(tmp_path / "repos", files)
    manifest = build_corpus(
        config([{"kind": "dir", "path": str(root), "repo_depth": 1}], split={"validation": 0.1, "test": 0.1}),
        tmp_path / "out", workers=0,
    )
    assert manifest["split_by"] == "repo"
    repos_of = {
        split: {d["repo"] for d in iter_documents(tmp_path / "out", split, columns=("repo",))} for split in SPLITS
    }
    assert all(repos_of[s] for s in SPLITS)  # every split got repositories
    assert not (repos_of["train"] & repos_of["validation"] or repos_of["train"] & repos_of["test"]
                or repos_of["validation"] & repos_of["test"])
    assert set().union(*repos_of.values()) == {f"repo{r:02d}" for r in range(12)}
    # a different seed moves repositories between splits, never splitting one
    again = build_corpus(
        config([{"kind": "dir", "path": str(root), "repo_depth": 1}], split={"validation": 0.1, "test": 0.1}, seed=1),
        tmp_path / "out2", workers=0,
    )
    assert again["split_by"] == "repo" and sum(again["splits"].values()) == 36


def _crash_corpus(root: Path, make_program, tree) -> Path:
    files = {f"m{i:02d}.py": make_program(i) for i in range(40)}
    files["m25.py"] += f"# {MARKER}\n"
    return tree(root, files)


@pytest.mark.timeout(120)
def test_killed_build_resumes_to_byte_identical_shards(tmp_path, make_program, tree, config):
    root = _crash_corpus(tmp_path / "src", make_program, tree)
    cfg = config([{"kind": "dir", "path": str(root)}], task_files=4, split={"validation": 0.2, "test": 0.2})
    script = textwrap.dedent(f"""
        from codelm.data.config import DataConfig
        from codelm.data.pipeline import build_corpus
        cfg = DataConfig.model_validate_json({cfg.model_dump_json()!r})
        build_corpus(cfg, {str(tmp_path / "killed")!r}, workers=0)
    """)
    # in-process build (workers=0): the hook SIGKILLs the build itself at m25.py, in task 6
    proc = subprocess.run([sys.executable, "-c", script], env={**__import__("os").environ, CRASH_MARKER_ENV: MARKER},
                          capture_output=True, timeout=100)
    assert proc.returncode == -signal.SIGKILL
    done = sorted(p.name for p in (tmp_path / "killed" / ".build" / "tasks").glob("task-*.json"))
    assert done == [f"task-{i:06d}.json" for i in range(6)]
    assert not (tmp_path / "killed" / "manifest.json").exists()

    resumed = build_corpus(cfg, tmp_path / "killed", workers=0)
    fresh = build_corpus(cfg, tmp_path / "fresh", workers=0)
    assert shard_bytes(tmp_path / "killed") == shard_bytes(tmp_path / "fresh")
    assert len(shard_bytes(tmp_path / "fresh")) == 3
    assert (tmp_path / "killed" / "rejects.jsonl").read_bytes() == (tmp_path / "fresh" / "rejects.jsonl").read_bytes()
    assert resumed == fresh
    starts = [json.loads(line) for line in (tmp_path / "killed" / "log.jsonl").read_text().splitlines()
              if '"start"' in line]
    assert [s["resumed_tasks"] for s in starts] == [0, 6]
    # running again on a finished build does nothing and returns the same manifest
    assert build_corpus(cfg, tmp_path / "killed", workers=0) == fresh


@pytest.mark.timeout(120)
def test_dead_worker_neither_hangs_the_build_nor_loses_good_files(tmp_path, make_program, tree, config, monkeypatch):
    root = _crash_corpus(tmp_path / "src", make_program, tree)
    cfg = config([{"kind": "dir", "path": str(root)}], task_files=10)
    monkeypatch.setenv(CRASH_MARKER_ENV, MARKER)
    manifest = build_corpus(cfg, tmp_path / "out", workers=2)
    assert manifest["rejected"] == {"worker_crash": 1}
    assert manifest["files_out"] == 39
    assert [r for r in rejects(tmp_path / "out") if r["reason"] == "worker_crash"] == [
        {"repo": "src", "path": "m25.py", "reason": "worker_crash", "detail": "worker died"}
    ]
    # task 2 holds the killer; the one task running beside it when the pool broke is retried too, and survives
    salvaged = {json.loads(line)["task"] for line in (tmp_path / "out" / "log.jsonl").read_text().splitlines()
                if '"salvage"' in line}
    assert 2 in salvaged and len(salvaged) <= 2
    kept = {d["path"] for s in SPLITS for d in iter_documents(tmp_path / "out", s, columns=("path",))}
    assert kept == {f"m{i:02d}.py" for i in range(40)} - {"m25.py"}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_ray_executor_matches_the_process_pool(tmp_path, make_program, tree, config):
    pytest.importorskip("ray")
    files = {f"m{i:02d}.py": make_program(i) for i in range(24)}
    root = tree(tmp_path / "src", files)
    cfg = config([{"kind": "dir", "path": str(root)}], task_files=6, split={"validation": 0.2, "test": 0.2})
    with_ray = build_corpus(cfg, tmp_path / "ray", workers=1, executor="ray")
    inline = build_corpus(cfg, tmp_path / "inline", workers=0)
    assert with_ray == inline
    assert shard_bytes(tmp_path / "ray") == shard_bytes(tmp_path / "inline")
    assert json.loads((tmp_path / "ray" / "log.jsonl").read_text().splitlines()[0])["executor"] == "ray"


MEMORY_SCRIPT = """
import resource, sys
from codelm.data.config import DataConfig
from codelm.data.pipeline import build_corpus
cfg = DataConfig(sources=[{"kind": "dir", "path": sys.argv[1]}], task_files=50, report=False)
manifest = build_corpus(cfg, sys.argv[2], workers=0)
print(manifest["files_in"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_peak_memory_grows_less_than_2x_for_a_10x_corpus(tmp_path, make_program, tree):
    peaks = {}
    for n in (50, 500):
        root = tree(tmp_path / f"src{n}", {f"d{i % 7}/m{i:04d}.py": make_program(i) for i in range(n)})
        proc = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(root), str(tmp_path / f"out{n}")],
                              capture_output=True, text=True, timeout=100, check=True)
        files, peak_kib = map(int, proc.stdout.split())
        assert files == n
        peaks[n] = peak_kib
    assert peaks[500] < 2 * peaks[50], peaks


def test_out_dir_rules(tmp_path, make_program, tree, config):
    root = tree(tmp_path / "src", {f"m{i}.py": make_program(i) for i in range(3)})
    cfg = config([{"kind": "dir", "path": str(root)}])
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not empty and holds no codelm corpus"):
        build_corpus(cfg, tmp_path / "busy", workers=0)
    first = build_corpus(cfg, tmp_path / "out", workers=0)
    other = config([{"kind": "dir", "path": str(root)}], seed=5)
    with pytest.raises(ConfigError, match="built with another config; pass --overwrite"):
        build_corpus(other, tmp_path / "out", workers=0)
    rebuilt = build_corpus(other, tmp_path / "out", workers=0, overwrite=True)
    assert rebuilt["config"]["seed"] == 5 and rebuilt["files_out"] == first["files_out"]


def test_cli_build(tmp_path, make_program, tree, capsys):
    root = tree(tmp_path / "src", {f"m{i}.py": make_program(i) for i in range(5)})
    argv = ["data", "build", "--source", str(root), "--out", str(tmp_path / "out"), "--workers", "0",
            "--set", "report=false", "--set", "split.validation=0", "--set", "split.test=0", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["files_out"] == 5 and result["splits"] == {"train": 5, "validation": 0, "test": 0}
    assert result["config"]["sources"][0]["kind"] == "dir"
    assert main(["data", "build", "--out", str(tmp_path / "x"), "--set", "filters.max_lines=zero"]) == 2
    assert "config key 'filters.max_lines'" in capsys.readouterr().err
    assert main(["data", "build", "--out", str(tmp_path / "x"), "--source", str(tmp_path / "missing")]) == 2
