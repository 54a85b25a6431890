"""Source readers: directories, git (HEAD and history), archives, JSONL, Parquet, stdlib; bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codelm.data.config import SourceConfig, parse_source
from codelm.data.corpus import COMMIT_SCHEMA
from codelm.data.pipeline import build_corpus
from codelm.data.sources import STDLIB_REPO, iter_items, iter_tasks
from codelm.errors import ConfigError, InputError

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo, *args):
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, env={**os.environ, **GIT_ENV}, timeout=60
    ).stdout.decode()


def listing(cfg: SourceConfig):
    return [(i.path, i.reject) for i in iter_items(cfg)]


# ---------------------------------------------------------------- directories


def test_directory_walk_is_sorted_and_skips_vcs_and_caches(tmp_path, tree):
    tree(tmp_path, {"b.py": "x", "a/z.py": "x", "a/b.py": "x", ".git/config": "x", "__pycache__/a.pyc": "x"})
    assert listing(SourceConfig(kind="dir", path=str(tmp_path))) == [("a/b.py", None), ("a/z.py", None), ("b.py", None)]
    cfg = SourceConfig(kind="dir", path=str(tmp_path), include=["a/*"], exclude=["*z.py"])
    assert listing(cfg) == [("a/b.py", None)]


def test_symlinks_fifos_and_loops_are_counted_not_fatal(tmp_path, tree, make_program, config):
    root = tree(tmp_path / "src", {"good.py": make_program(1), "pkg/mod.py": make_program(2)})
    os.symlink("pkg", root / "alias")  # directory symlink
    os.symlink(root / "good.py", root / "link.py")  # file symlink: followed
    os.symlink(root / "missing.py", root / "dangling.py")
    os.symlink("..", root / "pkg" / "up")  # a loop when followed
    os.mkfifo(root / "pipe.py")  # opening it must not block the build
    plain = listing(SourceConfig(kind="dir", path=str(root)))
    assert plain == [
        ("alias", "symlink"), ("dangling.py", "unreadable"), ("good.py", None), ("link.py", None),
        ("pipe.py", None), ("pkg/mod.py", None), ("pkg/up", "symlink"),
    ]
    followed = listing(SourceConfig(kind="dir", path=str(root), follow_symlinks=True))
    # the alias is walked (its target is not visited yet); each way back up is a loop
    assert followed == [
        ("alias/mod.py", None), ("alias/up", "symlink_loop"), ("dangling.py", "unreadable"), ("good.py", None),
        ("link.py", None), ("pipe.py", None), ("pkg/mod.py", None), ("pkg/up", "symlink_loop"),
    ]
    manifest = build_corpus(config([{"kind": "dir", "path": str(root)}]), tmp_path / "out", workers=0)
    assert manifest["rejected"] == {"not_regular_file": 1, "symlink": 2, "unreadable": 1}
    assert manifest["duplicates"]["exact"] == 1  # link.py is good.py
    assert manifest["files_out"] == 2


def test_missing_source_is_a_one_line_input_error(tmp_path):
    with pytest.raises(InputError, match=r"source directory '.*nope' does not exist"):
        list(iter_items(SourceConfig(kind="dir", path=str(tmp_path / "nope"))))
    with pytest.raises(ConfigError, match="is not 'stdlib', an existing directory"):
        parse_source(str(tmp_path / "nope"))


def test_max_files_is_a_deterministic_spread_sample(tmp_path, tree):
    tree(tmp_path, {f"d{i // 10}/f{i:03d}.py": "x" for i in range(100)})
    cfg = SourceConfig(kind="dir", path=str(tmp_path), max_files=10)
    first = listing(cfg)
    assert first == listing(cfg) and len(first) == 10
    assert first == sorted(first)  # listing order is kept
    assert len({p.split("/")[0] for p, _ in first}) >= 5  # spread over the tree, not the first ten
    assert listing(SourceConfig(kind="dir", path=str(tmp_path), max_files=10)) != [
        (p, r) for p, r in listing(SourceConfig(kind="dir", path=str(tmp_path)))[:10]
    ]


def test_tasks_cut_items_in_order():
    tasks = list(iter_tasks([SourceConfig(kind="stdlib", max_files=25)], task_files=10))
    assert [(t.index, len(t.items)) for t in tasks] == [(0, 10), (1, 10), (2, 5)]
    assert {i.repo for t in tasks for i in t.items} == {STDLIB_REPO}
    assert {i.license for t in tasks for i in t.items} == {"PSF-2.0"}


def test_parse_source_shorthands(tmp_path, tree):
    tree(tmp_path / "plain", {"a.py": "x"})
    (tmp_path / "repo").mkdir()
    git(tmp_path / "repo", "init", "-q")
    assert parse_source("stdlib").kind == "stdlib"
    assert parse_source(str(tmp_path / "plain")).kind == "dir"
    assert parse_source(str(tmp_path / "repo")).kind == "git"
    assert parse_source("x.tar.gz").kind == "archive" and parse_source("data.zip").kind == "archive"
    assert parse_source("rows.jsonl").kind == "jsonl" and parse_source("rows.parquet").kind == "parquet"
    assert parse_source(f"dir:{tmp_path / 'repo'}").kind == "dir"


# ---------------------------------------------------------------- git


@pytest.fixture
def repo(tmp_path, make_program):
    path = tmp_path / "proj"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "LICENSE").write_text("Permission is hereby granted, free of charge, to any person obtaining a copy\n")
    (path / "app.py").write_text(make_program(1))
    git(path, "add", ".")
    git(path, "commit", "-qm", "Initial import")
    (path / "app.py").write_text(make_program(1).replace("import sys", "import sys\nimport json"))
    (path / "util.py").write_text(make_program(2))
    os.symlink("app.py", path / "alias.py")
    git(path, "add", ".")
    git(path, "commit", "-qm", "Add util and a json import\n\nContact dev@corp.io for details.")
    (path / "untracked.py").write_text(make_program(3))  # not at HEAD: not part of the source
    return path


def test_git_head_files(repo):
    items = list(iter_items(SourceConfig(kind="git", path=str(repo))))
    assert [(i.path, i.reject, i.license, i.repo) for i in items] == [
        ("LICENSE", None, "MIT", "proj"), ("alias.py", "symlink", "MIT", "proj"),
        ("app.py", None, "MIT", "proj"), ("util.py", None, "MIT", "proj"),
    ]
    assert all(i.blob and len(i.blob) == 40 for i in items if not i.reject)


def test_git_history_commit_records(repo, tmp_path, config):
    cfg = config([{"kind": "git", "path": str(repo), "history": True}], split={"validation": 0, "test": 0})
    manifest = build_corpus(cfg, tmp_path / "out", workers=0)
    assert manifest["commits"] == {
        "in": 2, "records": 4, "rejected": {}, "splits": {"train": 4, "validation": 0, "test": 0}
    }
    table = pq.read_table(tmp_path / "out" / "commits" / "train-00000.parquet")
    assert table.schema.equals(COMMIT_SCHEMA)
    rows = sorted(table.to_pylist(), key=lambda r: (r["message"], r["path"]))
    message = "Add util and a json import\n\nContact <EMAIL> for details."  # redacted like files
    assert [(r["message"], r["path"]) for r in rows] == [
        (message, "app.py"), (message, "util.py"), ("Initial import", "LICENSE"), ("Initial import", "app.py")
    ]
    edit = next(r for r in rows if r["path"] == "app.py" and r["before"])
    assert "+import json\n" in edit["diff"] and edit["diff"].startswith("--- a/app.py\n+++ b/app.py\n")
    assert edit["after"] == edit["before"].replace("import sys", "import sys\nimport json")
    assert edit["language"] == "python" and edit["license"] == "MIT"
    # the corpus itself holds the HEAD files (the symlink is rejected)
    assert manifest["files_in"] == 4 and manifest["rejected"] == {"symlink": 1}


def test_broken_and_shallow_git_repos(tmp_path, repo, config):
    broken = tmp_path / "broken"
    broken.mkdir()
    git(broken, "init", "-q")  # no commits: no HEAD
    items = list(iter_items(SourceConfig(kind="git", path=str(broken))))
    assert [(i.path, i.reject) for i in items] == [("", "broken_git_repo")]
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)], check=True,
                   capture_output=True, env={**os.environ, **GIT_ENV}, timeout=60)
    cfg = config([{"kind": "git", "path": str(shallow), "history": True}, {"kind": "git", "path": str(broken)}])
    manifest = build_corpus(cfg, tmp_path / "out", workers=0)
    assert manifest["commits"]["rejected"] == {"shallow_boundary": 1}
    assert manifest["rejected"] == {"broken_git_repo": 1, "symlink": 1}
    assert manifest["files_out"] == 3


# ---------------------------------------------------------------- archives


def _tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_tarball_root_is_stripped_and_license_found(tmp_path, make_program):
    mit = b"Permission is hereby granted, free of charge, to any person obtaining a copy\n"
    data = _tar_bytes({"proj-1.0/LICENSE": mit, "proj-1.0/src/a.py": make_program(1).encode()})
    (tmp_path / "proj-1.0.tar.gz").write_bytes(data)
    items = list(iter_items(parse_source(str(tmp_path / "proj-1.0.tar.gz"))))
    assert [(i.repo, i.path, i.license, i.reject) for i in items] == [
        ("proj-1.0", "LICENSE", "MIT", None), ("proj-1.0", "src/a.py", "MIT", None)
    ]


def test_archive_member_names_never_escape(tmp_path):
    data = _tar_bytes({"/etc/passwd.py": b"x = 1\n", "a/../../../b.py": b"x = 1\n", "./c//d.py": b"x = 1\n"})
    (tmp_path / "evil.tar.gz").write_bytes(data)
    assert [i.path for i in iter_items(parse_source(str(tmp_path / "evil.tar.gz")))] == ["etc/passwd.py", "b.py", "c/d.py"]


def test_zip_bomb_limits_and_truncated_tar(tmp_path, make_program, config):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok.py", make_program(1))
        zf.writestr("zeros.py", b"\0" * (4 << 20))  # ~1000:1 compression
        zf.writestr("ok2.py", make_program(2))
    assert [(i.path, i.reject) for i in iter_items(SourceConfig(kind="archive", path=str(bomb)))] == [
        ("ok.py", None), ("zeros.py", "archive_bomb"), ("ok2.py", None)
    ]
    capped = SourceConfig(kind="archive", path=str(bomb), max_archive_members=2)
    assert [(i.path, i.reject) for i in iter_items(capped)] == [
        ("ok.py", None), ("zeros.py", "archive_bomb"), ("ok2.py", "archive_limit")
    ]
    members = {f"m{i}.py": make_program(i).encode() for i in range(3)}
    raw = _tar_bytes(members, mode="w")
    cut = raw[: 512 * 3 + len(members["m0.py"]) + 512]  # into the second member's data
    (tmp_path / "cut.tar").write_bytes(cut)
    got = [(i.path, i.reject) for i in iter_items(SourceConfig(kind="archive", path=str(tmp_path / "cut.tar")))]
    assert got[0] == ("m0.py", None) and got[-1] == ("cut.tar", "broken_archive")
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 not really a zip")
    manifest = build_corpus(
        config([{"kind": "archive", "path": str(bomb)}, {"kind": "archive", "path": str(tmp_path / "junk.zip")}]),
        tmp_path / "out", workers=0,
    )
    assert manifest["rejected"] == {"archive_bomb": 1, "broken_archive": 1}
    assert manifest["files_out"] == 2


# ---------------------------------------------------------------- records


def test_jsonl_and_parquet_records(tmp_path, make_program, config):
    rows = [{"path": "a.py", "content": make_program(1), "repo": "org/one"},
            {"path": "b.py", "content": make_program(2), "repo": "org/two", "license": "MIT"}]
    lines = [json.dumps(r) for r in rows] + ["{not json", json.dumps({"path": "c.py"}), ""]
    (tmp_path / "rows.jsonl").write_text("\n".join(lines) + "\n")
    items = list(iter_items(parse_source(str(tmp_path / "rows.jsonl"))))
    assert [(i.repo, i.path, i.license, i.reject) for i in items] == [
        ("org/one", "a.py", "unknown", None), ("org/two", "b.py", "MIT", None),
        ("rows", "rows.jsonl:3", "unknown", "malformed_record"), ("rows", "rows.jsonl:4", "unknown", "malformed_record"),
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "rows.parquet")
    items = list(iter_items(parse_source(str(tmp_path / "rows.parquet"))))
    assert [(i.repo, i.path, i.data.decode()) for i in items] == [(r["repo"], r["path"], r["content"]) for r in rows]
    manifest = build_corpus(config([{"kind": "jsonl", "path": str(tmp_path / "rows.jsonl")}]), tmp_path / "out", workers=0)
    assert manifest["rejected"] == {"malformed_record": 2} and manifest["files_out"] == 2
    assert manifest["licenses"] == {"MIT": 1, "unknown": 1}
