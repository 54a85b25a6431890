"""Repository-level next-line completion from a local repository (RepoBench-style).

Liu et al. 2023 (RepoBench) and Ding et al. 2023 (CrossCodeEval) show that
completing a line well needs context from *other* files of the repository.
This task builds such problems from any directory:

1. files of the chosen language are sampled (seeded), and in each a few
   target lines (non-blank, not comment-only, at least 4 characters);
2. the in-file context is the `context_lines` lines before the target;
3. the cross-file context is the `top_k` snippets (`chunk_lines` lines each)
   of the *other* files that best match the last lines of the in-file
   context, by BM25 (rank-bm25's Okapi BM25 over code tokens) or by
   identifier overlap (Jaccard);
4. the prompt is the snippets as comments, each headed by its path, then the
   current file's path and context. The model writes one line.

Scored by exact match and edit similarity of the line (whitespace-stripped).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from codelm.analysis.languages import detect_language
from codelm.errors import ConfigError, InputError
from codelm.eval.tasks import Problem, Task, register_task

LINE_COMMENT = {"python": "#", "ruby": "#", "shell": "#", "r": "#", "perl": "#"}
DEFAULT_EXTENSIONS = {
    "python": [".py"], "javascript": [".js", ".mjs"], "typescript": [".ts"], "java": [".java"],
    "go": [".go"], "rust": [".rs"], "c": [".c", ".h"], "cpp": [".cc", ".cpp", ".hpp", ".h"],
    "csharp": [".cs"], "ruby": [".rb"], "php": [".php"],
}
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", "build", "dist",
             ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages"}
MAX_FILE_BYTES = 1 << 20
_IDENT = re.compile(r"[A-Za-z_]\w*")
_TOKEN = re.compile(r"\w+|[^\w\s]")
QUERY_LINES = 10


def comment_prefix(language: str) -> str:
    return LINE_COMMENT.get(language, "//")


def _repo_files(root: Path, extensions: list[str]) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        if path.is_file() and path.suffix.lower() in extensions and path.stat().st_size <= MAX_FILE_BYTES:
            files.append(path)
    return files


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def _is_target(line: str, prefix: str) -> bool:
    text = line.strip()
    return len(text) >= 4 and not text.startswith(prefix) and not text.startswith(("/*", "*", '"""', "'''"))


class Retriever:
    """Snippets of the repository's files, ranked against a query."""

    def __init__(self, docs: dict[str, list[str]], chunk_lines: int, method: str) -> None:
        self.method = method
        self.chunks: list[tuple[str, str]] = []  # (path, text)
        for rel, lines in docs.items():
            step = max(1, chunk_lines // 2)  # half-overlapping windows
            for start in range(0, max(1, len(lines) - chunk_lines + step), step):
                text = "\n".join(lines[start:start + chunk_lines]).strip("\n")
                if text.strip():
                    self.chunks.append((rel, text))
        self._bm25 = None
        if method == "bm25" and self.chunks:
            from rank_bm25 import BM25Okapi

            self._bm25 = BM25Okapi([_TOKEN.findall(text) or ["_"] for _, text in self.chunks])
        self._idents = [set(_IDENT.findall(text)) for _, text in self.chunks]

    def top(self, query: str, exclude: str, k: int) -> list[tuple[str, str]]:
        if k == 0 or not self.chunks or self.method == "none":
            return []
        if self._bm25 is not None:
            scores = list(self._bm25.get_scores(_TOKEN.findall(query) or ["_"]))
        else:
            q = set(_IDENT.findall(query))
            scores = [len(q & ids) / len(q | ids) if q | ids else 0.0 for ids in self._idents]
        order = sorted(range(len(self.chunks)), key=lambda i: (-scores[i], i))
        picked = [self.chunks[i] for i in order if self.chunks[i][0] != exclude and scores[i] > 0]
        return picked[:k]


def repo_problems(root: str | Path, options, seed: int) -> list[Problem]:
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"repository '{root}' is not a directory; set task_options.path to a local checkout")
    language = options.language or "python"
    extensions = [e.lower() if e.startswith(".") else f".{e.lower()}" for e in
                  (options.extensions or DEFAULT_EXTENSIONS.get(language, []))]
    if not extensions:
        raise ConfigError(f"task_options.extensions: no default file extensions for language '{language}'")
    docs: dict[str, list[str]] = {}
    for path in _repo_files(root, extensions):
        text = _read(path)
        if text is not None and text.strip():
            docs[path.relative_to(root).as_posix()] = text.split("\n")
    if not docs:
        raise InputError(f"repository '{root}' has no {', '.join(extensions)} files")
    rng = random.Random(f"{seed}:repo")
    names = sorted(docs)
    if options.max_files is not None and len(names) > options.max_files:
        names = sorted(rng.sample(names, options.max_files))
    retriever = Retriever(docs, options.chunk_lines, options.retrieval)
    prefix = comment_prefix(language)
    problems = []
    for rel in names:
        lines = docs[rel]
        candidates = [i for i in range(3, len(lines)) if _is_target(lines[i], prefix)]
        if not candidates:
            continue
        targets = sorted(rng.sample(candidates, min(options.lines_per_file, len(candidates))))
        for index in targets:
            context = lines[max(0, index - options.context_lines):index]
            query = "\n".join(context[-QUERY_LINES:])
            snippets = retriever.top(query, rel, options.top_k)
            parts = []
            for path, text in snippets:
                parts.append(f"{prefix} Path: {path}\n" + "\n".join(f"{prefix} {line}" for line in text.split("\n")))
            parts.append(f"{prefix} Path: {rel}\n" + "\n".join(context) + "\n")
            target = lines[index]
            indent = target[: len(target) - len(target.lstrip())]
            problems.append(
                Problem(
                    task_id=f"{rel}:{index + 1}",
                    prompt="\n".join(parts),
                    reference=target.strip(),
                    language=detect_language(rel) or language,
                    stop=("\n",),
                    meta={"file": rel, "line": index + 1, "indent": indent,
                          "snippets": [p for p, _ in snippets]},
                )
            )
    if not problems:
        raise InputError(f"repository '{root}' has no usable target lines (files too short?)")
    return problems


@register_task
class RepoNextLine(Task):
    name = "repo-next-line"
    description = "next-line completion in a local repository with BM25 cross-file context: exact match, edit sim"
    scoring = "similarity"
    needs_path = True

    def load(self) -> list[Problem]:
        return repo_problems(self.options.path, self.options, self.seed)
