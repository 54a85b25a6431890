"""Parsing with tree-sitter: grammars, parse results, syntax errors, AST views.

Grammars come from the per-language wheels (`tree-sitter-python`, ...), which
ship compiled parsers; `tree-sitter-language-pack` 1.x is avoided on purpose
because it downloads grammars at run time.

Positions: tree-sitter counts bytes of UTF-8. Everything this package returns
counts *characters* of the `str` source (so offsets line up with a tokenizer's
offset mapping), with 1-based lines and 0-based columns, like Python's `ast`.
"""

from __future__ import annotations

import bisect
import contextlib
import importlib
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

import tree_sitter

from codelm.errors import ConfigError, InputError

# language name -> (grammar module, function returning the language pointer)
_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "java": ("tree_sitter_java", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "csharp": ("tree_sitter_c_sharp", "language"),
    "ruby": ("tree_sitter_ruby", "language"),
    "php": ("tree_sitter_php", "language_php"),
}
# PHP without an opening `<?php` tag (a snippet) parses with the tag-less grammar.
_PHP_ONLY = ("tree_sitter_php", "language_php_only")

SUPPORTED_LANGUAGES: tuple[str, ...] = tuple(_GRAMMARS)

# Spellings people use for the same language (file extensions, Linguist names).
ALIASES: dict[str, str] = {
    "py": "python", "python3": "python",
    "js": "javascript", "jsx": "javascript", "node": "javascript",
    "ts": "typescript",
    "golang": "go",
    "rs": "rust",
    "c++": "cpp", "cxx": "cpp", "cc": "cpp",
    "c#": "csharp", "cs": "csharp", "c-sharp": "csharp",
    "rb": "ruby",
}


def normalize_language(language: str) -> str:
    """The canonical name of a supported language, or a ConfigError listing them."""
    name = language.strip().lower()
    name = ALIASES.get(name, name)
    if name not in _GRAMMARS:
        raise ConfigError(
            f"language '{language}' has no bundled grammar; supported: {', '.join(SUPPORTED_LANGUAGES)}"
        )
    return name


@cache
def _load(module: str, func: str) -> tree_sitter.Language:
    return tree_sitter.Language(getattr(importlib.import_module(module), func)())


def get_language(language: str) -> tree_sitter.Language:
    """The tree-sitter `Language` of a supported language (loaded once)."""
    return _load(*_GRAMMARS[normalize_language(language)])


# A Parser holds mutable state and is not safe to share across threads.
_local = threading.local()


def _parser(grammar: tuple[str, str]) -> tree_sitter.Parser:
    parsers = _local.__dict__.setdefault("parsers", {})
    parser = parsers.get(grammar)
    if parser is None:
        parser = parsers[grammar] = tree_sitter.Parser(_load(*grammar))
    return parser


@dataclass(frozen=True)
class SyntaxIssue:
    """One syntax problem: an ERROR node (unparsable text) or a MISSING token.

    `text` is the offending source for errors (cut to 60 characters) and the
    expected token for missing nodes (e.g. `)`).
    """

    line: int
    col: int
    kind: str  # "error" | "missing"
    text: str
    end_line: int
    end_col: int

    def to_json(self) -> dict:
        return {"line": self.line, "col": self.col, "kind": self.kind, "text": self.text,
                "end_line": self.end_line, "end_col": self.end_col}

    def __str__(self) -> str:
        what = f"missing '{self.text}'" if self.kind == "missing" else f"syntax error at '{self.text}'"
        return f"line {self.line}, col {self.col}: {what}"


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


class _Offsets:
    """Byte offset (UTF-8) → character offset, in O(log k) for k non-ASCII chars.

    Pure-ASCII text (most code) is the identity. Otherwise a character offset is
    the byte offset minus the extra bytes of the multi-byte characters before it.
    """

    def __init__(self, text: str) -> None:
        self.byte_ends: list[int] = []  # byte offset just after each non-ASCII char
        self.extra: list[int] = []  # cumulative extra bytes up to and including it
        extra = 0
        for match in _NON_ASCII.finditer(text):
            extra += len(match.group().encode("utf-8", "surrogatepass")) - 1
            self.byte_ends.append(match.end() + extra)
            self.extra.append(extra)

    def char(self, byte: int) -> int:
        if not self.byte_ends:
            return byte
        i = bisect.bisect_right(self.byte_ends, byte)
        return byte - (self.extra[i - 1] if i else 0)


@dataclass
class ParseResult:
    """A parse tree with its source, syntax problems and position helpers."""

    language: str
    source: str
    data: bytes  # the UTF-8 bytes tree-sitter parsed
    tree: tree_sitter.Tree
    errors: list[SyntaxIssue] = field(default_factory=list)
    _offsets: _Offsets | None = field(default=None, repr=False)

    @property
    def root(self) -> tree_sitter.Node:
        return self.tree.root_node

    @property
    def ok(self) -> bool:
        """True when the file has no ERROR or MISSING node."""
        return not self.errors

    def char(self, byte: int) -> int:
        """Character offset in `source` of a byte offset in `data`."""
        if self._offsets is None:
            self._offsets = _Offsets(self.source)
        return self._offsets.char(byte)

    def span(self, node: tree_sitter.Node) -> tuple[int, int]:
        """Character span [start, end) of a node."""
        return self.char(node.start_byte), self.char(node.end_byte)

    def position(self, byte: int, point: tree_sitter.Point) -> tuple[int, int]:
        """(1-based line, 0-based character column) of a byte offset with its point."""
        row, byte_col = point
        return row + 1, self.char(byte) - self.char(byte - byte_col)

    def start(self, node: tree_sitter.Node) -> tuple[int, int]:
        return self.position(node.start_byte, node.start_point)

    def end(self, node: tree_sitter.Node) -> tuple[int, int]:
        return self.position(node.end_byte, node.end_point)

    def text(self, node: tree_sitter.Node) -> str:
        return self.data[node.start_byte:node.end_byte].decode("utf-8", "surrogatepass")


def to_text(source: str | bytes) -> str:
    """Source as `str`; bytes must be UTF-8 (an InputError says so otherwise)."""
    if isinstance(source, str):
        return source
    try:
        return bytes(source).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"source is not UTF-8 text (undecodable byte at offset {exc.start}); re-encode it as UTF-8"
        ) from None


def parse(source: str | bytes, language: str) -> ParseResult:
    """Parse source code; never raises on broken code.

    A broken file yields a partial tree whose ERROR and MISSING nodes are
    listed in `errors`. An unsupported language is a ConfigError naming the
    supported ones.
    """
    name = normalize_language(language)
    text = to_text(source)
    data = text.encode("utf-8", "surrogatepass")
    grammar = _GRAMMARS[name]
    if name == "php" and b"<?" not in data:
        grammar = _PHP_ONLY
    tree = _parser(grammar).parse(data)
    result = ParseResult(name, text, data, tree)
    result.errors = _syntax_issues(result)
    return result


Source = str | bytes | ParseResult


def ensure_parsed(source: Source, language: str | None) -> ParseResult:
    """Accept either a ParseResult (reused) or source text plus a language."""
    if isinstance(source, ParseResult):
        return source
    if language is None:
        raise ConfigError("a language is required with source text; pass language='python' etc.")
    return parse(source, language)


def _syntax_issues(result: ParseResult) -> list[SyntaxIssue]:
    """ERROR and MISSING nodes in source order; only the outermost ERROR is kept."""
    issues: list[SyntaxIssue] = []
    root = result.root
    if not root.has_error:
        return issues
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing or node.is_error:
            line, col = result.start(node)
            end_line, end_col = result.end(node)
            if node.is_missing:
                issues.append(SyntaxIssue(line, col, "missing", node.type, end_line, end_col))
            else:
                snippet = " ".join(result.text(node).split())
                issues.append(SyntaxIssue(line, col, "error", snippet[:60], end_line, end_col))
            continue
        stack.extend(child for child in reversed(node.children) if child.has_error)
    return issues


@contextlib.contextmanager
def recursion_room(what: str, limit: int = 20_000) -> Iterator[None]:
    """Let a recursive tree walk go deeper than Python's default 1000 frames.

    The analyses recurse along the tree (a 800-target chained assignment in
    CPython's own tests nests 800 deep). Python-to-Python calls do not use
    the C stack in CPython >= 3.11, so a higher limit is safe; past it the
    input is reported as too deeply nested instead of crashing.
    """
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    except RecursionError:
        raise InputError(f"{what}: the code is nested too deeply to analyse "
                         f"(over {limit} levels); skip this file") from None
    finally:
        sys.setrecursionlimit(old)


def first_named(node: tree_sitter.Node | None) -> tree_sitter.Node | None:
    """The first named child, or None (`Node.named_child` raises when there is none)."""
    if node is None or node.named_child_count == 0:
        return None
    return node.named_children[0]


def walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    """Every node below and including `node`, in source (pre-)order."""
    cursor = node.walk()  # a cursor never leaves the node it was made on
    depth = 0
    while True:
        yield cursor.node
        if cursor.goto_first_child():
            depth += 1
            continue
        while not cursor.goto_next_sibling():
            if depth == 0 or not cursor.goto_parent():
                return
            depth -= 1


def ast_json(source: Source, language: str | None = None) -> dict:
    """The `--ast` view: nested {type, start, end, children}, `text` on leaves.

    The root also carries `language` and `errors`. Positions are
    [1-based line, 0-based character column].
    """
    result = ensure_parsed(source, language)

    def convert(node: tree_sitter.Node) -> dict:
        out: dict = {"type": node.type, "start": list(result.start(node)), "end": list(result.end(node))}
        if node.child_count == 0:
            out["text"] = result.text(node)
        out["children"] = [convert(child) for child in node.children]
        return out

    tree = convert(result.root)
    tree["language"] = result.language
    tree["errors"] = [issue.to_json() for issue in result.errors]
    return tree


def subtrees(source: Source, language: str | None = None, with_depth: bool = False) -> list:
    """S-expressions of every subtree that has children (leaves ignored).

    This is what CodeBLEU's syntax match counts (Ren et al. 2020): a reference
    subtree scores when the same s-expression occurs in the candidate. Named
    nodes and field names appear; identifier text does not, so renaming a
    variable keeps the match. With `with_depth`, items are (sexp, depth) with
    the root at depth 1.
    """
    result = ensure_parsed(source, language)
    out: list = []
    stack = [(result.root, 1)]
    while stack:
        node, depth = stack.pop()
        out.append((str(node), depth) if with_depth else str(node))
        stack.extend((child, depth + 1) for child in reversed(node.children) if child.child_count)
    return out


def ast_dot(source: Source, language: str | None = None) -> str:
    """Graphviz DOT of the named-node tree (leaves labelled with their text)."""
    result = ensure_parsed(source, language)
    lines = ["digraph ast {", '  node [shape=box, fontname="monospace", fontsize=10];']
    ids: dict[int, int] = {}
    for node in walk(result.root):
        if not node.is_named:
            continue
        ids[node.id] = len(ids)
        label = node.type
        if node.named_child_count == 0:
            label += "\\n" + _dot_escape(result.text(node)[:40])
        color = ', color=red' if node.is_error or node.is_missing else ""
        lines.append(f'  n{ids[node.id]} [label="{label}"{color}];')
        parent = node.parent
        while parent is not None and not parent.is_named:
            parent = parent.parent
        if parent is not None and parent.id in ids:
            lines.append(f"  n{ids[parent.id]} -> n{ids[node.id]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
