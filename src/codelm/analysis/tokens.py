"""Source tokens with a class each: identifier, keyword, string, number, operator,
punctuation, comment.

The token stream is the parse tree's leaves, except that literals, comments
and PHP variables are kept whole (a string with interpolations is one
`string` token, like Python's own tokenizer before 3.12). CodeT5's identifier
tagging labels each token identifier-or-not (Wang et al. 2021); the
objectives align these character offsets with a tokenizer's offset mapping.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import tree_sitter

from codelm.analysis.keywords import keywords
from codelm.analysis.parsing import ParseResult, Source, ensure_parsed

KINDS = ("identifier", "keyword", "string", "number", "operator", "punctuation", "comment")

# Literal node types across the bundled grammars; each is one token.
STRING_TYPES = frozenset({
    "string", "string_literal", "raw_string_literal", "char_literal", "character_literal",
    "template_string", "regex", "interpreted_string_literal", "rune_literal", "system_lib_string",
    "verbatim_string_literal", "interpolated_string_expression", "encapsed_string", "heredoc",
    "nowdoc", "simple_symbol", "delimited_symbol", "hash_key_symbol", "string_array",
    "symbol_array", "heredoc_body", "heredoc_beginning", "subshell", "shell_command_expression",
    "character", "text", "text_block",
})
NUMBER_TYPES = frozenset({
    "integer", "float", "number", "number_literal", "int_literal", "float_literal",
    "imaginary_literal", "integer_literal", "real_literal", "decimal_integer_literal",
    "hex_integer_literal", "octal_integer_literal", "binary_integer_literal",
    "decimal_floating_point_literal", "hex_floating_point_literal", "rational", "complex",
})
# Named leaves that name something (variables, functions, types, fields, labels).
IDENTIFIER_TYPES = frozenset({
    "identifier", "field_identifier", "type_identifier", "property_identifier",
    "shorthand_property_identifier", "shorthand_property_identifier_pattern",
    "private_property_identifier", "statement_identifier", "namespace_identifier",
    "package_identifier", "label_name", "shorthand_field_identifier", "constant",
    "instance_variable", "class_variable", "global_variable", "name", "variable_name",
    "implicit_parameter", "metavariable",
})
# Kept whole although they have children: `$x` in PHP is one variable token.
_ATOMIC_NAMES = frozenset({"variable_name"})
PUNCTUATION = frozenset({
    "(", ")", "[", "]", "{", "}", ",", ";", ":", ".", "::", "...", "@", "`", '"', "'", "#",
    "<?php", "?>", "<?=", "#[", "#!", "$",
})

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*[?!]?\Z")
_DIRECTIVE = re.compile(r"#\s*[a-z_]+\Z")  # C preprocessor: `#include`, `#define`
_LEX = re.compile(r"[A-Za-z_$][\w$]*|\d[\w.]*|\S")  # fallback for unstructured text


class CodeToken(NamedTuple):
    """One source token. `start`/`end` are character offsets into the str
    source (end exclusive); `start_byte`/`end_byte` index its UTF-8 bytes;
    `line` is 1-based and `col` a 0-based character column. (A NamedTuple:
    a file has many tokens and these are cheap to make.)"""

    text: str
    kind: str
    start: int
    end: int
    start_byte: int
    end_byte: int
    line: int
    col: int
    node_type: str

    @property
    def is_identifier(self) -> bool:
        return self.kind == "identifier"

    def to_json(self) -> dict:
        return {"text": self.text, "kind": self.kind, "start": self.start, "end": self.end,
                "line": self.line, "col": self.col, "type": self.node_type}


def is_atomic(node: tree_sitter.Node) -> bool:
    """Nodes kept as one token even when the grammar gives them children."""
    kind = node.type
    return (kind in STRING_TYPES or kind in NUMBER_TYPES or kind in _ATOMIC_NAMES
            or "comment" in kind)


def classify(node: tree_sitter.Node, text: str, language: str) -> str:
    """The token class of a leaf (or atomic) node."""
    kind = node.type
    if "comment" in kind:
        return "comment"
    if kind in STRING_TYPES:
        return "string"
    if kind in NUMBER_TYPES:
        return "number"
    if not node.is_named:
        if _WORD.match(text) or _DIRECTIVE.match(text):
            return "keyword"
        return "punctuation" if text in PUNCTUATION else "operator"
    if kind in IDENTIFIER_TYPES:
        return "identifier"
    if kind in ("php_tag", "php_end_tag"):
        return "punctuation"
    if _WORD.match(text):
        # Named word leaves that are not names: True/None, this, primitive
        # types (`int`), `mut`, ... Inside an ERROR node, words are names
        # unless reserved.
        if node.is_error or (node.parent is not None and node.parent.is_error):
            return "keyword" if text in keywords(language) else "identifier"
        return "keyword"
    if text[:1].isdigit():
        return "number"
    return "punctuation" if text in PUNCTUATION else "operator"


def _lex(result: ParseResult, node: tree_sitter.Node, out: list[CodeToken]) -> None:
    """Split a leaf of unstructured text (a macro body, an ERROR run) into tokens."""
    text = result.text(node)
    base_char = result.char(node.start_byte)
    base_line, base_col = result.start(node)
    words = keywords(result.language)
    for match in _LEX.finditer(text):
        piece = match.group()
        if piece[0].isalpha() or piece[0] in "_$":
            kind = "keyword" if piece in words else "identifier"
        elif piece[0].isdigit():
            kind = "number"
        else:
            kind = "punctuation" if piece in PUNCTUATION else "operator"
        before = text[:match.start()]
        newlines = before.count("\n")
        line = base_line + newlines
        col = (match.start() - before.rfind("\n") - 1) if newlines else base_col + match.start()
        start_byte = node.start_byte + len(before.encode("utf-8", "surrogatepass"))
        out.append(CodeToken(piece, kind, base_char + match.start(), base_char + match.end(),
                             start_byte, start_byte + len(piece.encode("utf-8", "surrogatepass")),
                             line, col, node.type))


def _needs_lexing(node: tree_sitter.Node, text: str) -> bool:
    return (node.is_named and node.type not in IDENTIFIER_TYPES and not is_atomic(node)
            and (node.is_error or len(text.split()) > 1 or node.type == "preproc_arg"))


def tokens(source: Source, language: str | None = None) -> list[CodeToken]:
    """Every token of the source in order, classified (see `KINDS`)."""
    result = ensure_parsed(source, language)
    out: list[CodeToken] = []
    ascii_only = len(result.data) == len(result.source)  # bytes are characters
    data, language = result.data, result.language
    cursor = result.root.walk()
    depth = 0
    while True:
        node = cursor.node
        if node.child_count == 0 or is_atomic(node):
            a, b = node.start_byte, node.end_byte
            if b > a:  # MISSING nodes have no text
                text = data[a:b].decode("utf-8", "surrogatepass")
                if _needs_lexing(node, text):
                    _lex(result, node, out)
                elif ascii_only:
                    row, col = node.start_point
                    out.append(CodeToken(text, classify(node, text, language), a, b, a, b,
                                         row + 1, col, node.type))
                else:
                    line, col = result.start(node)
                    start, end = result.span(node)
                    out.append(CodeToken(text, classify(node, text, language), start, end,
                                         a, b, line, col, node.type))
        elif cursor.goto_first_child():
            depth += 1
            continue
        while not cursor.goto_next_sibling():
            if depth == 0 or not cursor.goto_parent():
                return out
            depth -= 1


def identifier_mask(source: Source, language: str | None = None) -> list[tuple[int, int, bool]]:
    """(start, end, is_identifier) per token: the CodeT5 identifier-tagging labels
    in character offsets, ready to align with a tokenizer's offset mapping."""
    return [(tok.start, tok.end, tok.is_identifier) for tok in tokens(source, language)]
