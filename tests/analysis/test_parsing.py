"""Parsing, syntax errors, positions, AST JSON and CodeBLEU subtrees."""

from __future__ import annotations

import pytest

from codelm.analysis import SUPPORTED_LANGUAGES, ast_json, parse, subtrees
from codelm.analysis.parsing import ast_dot, normalize_language
from codelm.errors import ConfigError, InputError

VALID = {
    "python": ("def f(x):\n    return x + 1\n", "module"),
    "java": ("class A { int f(int x) { return x + 1; } }", "program"),
    "javascript": ("function f(x) { return x + 1; }", "program"),
    "typescript": ("function f(x: number): number { return x + 1; }", "program"),
    "tsx": ("const e = <div className=\"a\">{x}</div>;", "program"),
    "go": ("package main\nfunc f(x int) int { return x + 1 }\n", "source_file"),
    "rust": ("fn f(x: i32) -> i32 { x + 1 }", "source_file"),
    "c": ("int f(int x) { return x + 1; }", "translation_unit"),
    "cpp": ("template <typename T> T f(T x) { return x + 1; }", "translation_unit"),
    "csharp": ("class A { int F(int x) { return x + 1; } }", "compilation_unit"),
    "ruby": ("def f(x)\n  x + 1\nend\n", "program"),
    "php": ("<?php function f($x) { return $x + 1; }", "program"),
}


def test_every_bundled_grammar_parses_valid_code():
    assert set(SUPPORTED_LANGUAGES) == set(VALID)
    for language, (source, root) in VALID.items():
        result = parse(source, language)
        assert result.ok, (language, result.errors)
        assert result.root.type == root
        assert result.language == language


def test_aliases_and_unsupported_language():
    assert normalize_language("C++") == "cpp"
    assert normalize_language("c#") == "csharp"
    assert normalize_language("js") == "javascript"
    assert parse("int main() { return 0; }", "c++").ok
    with pytest.raises(ConfigError) as err:
        parse("x", "kotlin")
    assert str(err.value) == ("language 'kotlin' has no bundled grammar; supported: python, java, "
                              "javascript, typescript, tsx, go, rust, c, cpp, csharp, ruby, php")


def test_errors_and_missing_nodes_are_located():
    result = parse("def f(:\n    return 1\n", "python")
    assert not result.ok
    assert [(e.line, e.col, e.kind, e.text) for e in result.errors] == [(1, 6, "missing", ")")]
    assert str(result.errors[0]) == "line 1, col 6: missing ')'"
    java = parse("class A { void f() { int x = 1 } }", "java")
    assert [(e.line, e.col, e.kind, e.text) for e in java.errors] == [(1, 30, "missing", ";")]
    js = parse("let é = ;\nfoo(", "javascript")  # columns count characters, not bytes
    assert [(e.line, e.col, e.kind, e.text) for e in js.errors] == [
        (1, 6, "error", "="), (2, 0, "error", "foo(")]
    assert js.errors[0].to_json() == {"line": 1, "col": 6, "kind": "error", "text": "=",
                                      "end_line": 1, "end_col": 7}


def test_broken_input_never_raises_and_keeps_a_partial_tree():
    for language in SUPPORTED_LANGUAGES:
        result = parse("}{ )( ;; \x00 if while \"unterminated", language)
        assert not result.ok
        assert result.root.end_byte == len(result.data)
    partial = parse("def ok():\n    return 1\n\ndef broken(:\n", "python")
    assert partial.root.children[0].type == "function_definition"


def test_bytes_input_and_undecodable_bytes():
    assert parse("x = 'é'\n".encode(), "python").source == "x = 'é'\n"
    with pytest.raises(InputError, match=r"not UTF-8 text \(undecodable byte at offset 5\)"):
        parse(b"x = '\xff'\n", "python")


def test_character_offsets_and_columns_with_multibyte_text():
    source = "s = '日本'\nt = s  # ü\n"
    result = parse(source, "python")
    second = result.root.children[1].children[0]  # t = s
    assert result.start(second) == (2, 0)
    use = second.child_by_field_name("right")
    start, end = result.span(use)
    assert source[start:end] == "s" and (start, end) == (13, 14)
    assert use.start_byte == 17  # the two CJK characters take 6 bytes
    assert result.text(use) == "s"


def test_php_snippet_without_open_tag():
    assert parse("$x = strlen($y);", "php").ok
    assert parse("<?php\n$x = 1;\n?>\n<p>html</p>\n", "php").ok


def test_ast_json_shape():
    assert ast_json("x = 1\n", "python") == {
        "type": "module", "start": [1, 0], "end": [2, 0],
        "children": [{
            "type": "expression_statement", "start": [1, 0], "end": [1, 5],
            "children": [{
                "type": "assignment", "start": [1, 0], "end": [1, 5],
                "children": [
                    {"type": "identifier", "start": [1, 0], "end": [1, 1], "text": "x", "children": []},
                    {"type": "=", "start": [1, 2], "end": [1, 3], "text": "=", "children": []},
                    {"type": "integer", "start": [1, 4], "end": [1, 5], "text": "1", "children": []},
                ]}]}],
        "language": "python", "errors": [],
    }
    broken = ast_json("f(", "python")
    assert broken["errors"] == [{"line": 1, "col": 0, "kind": "error", "text": "f(",
                                 "end_line": 1, "end_col": 2}]
    dot = ast_dot("x = 1\n", "python")
    assert dot.startswith("digraph ast {") and 'label="identifier\\nx"' in dot


def test_subtrees_ignore_leaves_so_renaming_keeps_the_match():
    assert subtrees("def f(a):\n    return a\n", "python") == [
        "(module (function_definition name: (identifier) parameters: (parameters (identifier)) "
        "body: (block (return_statement (identifier)))))",
        "(function_definition name: (identifier) parameters: (parameters (identifier)) "
        "body: (block (return_statement (identifier))))",
        "(parameters (identifier))",
        "(block (return_statement (identifier)))",
        "(return_statement (identifier))",
    ]
    assert subtrees("def f(a):\n    return a\n", "python") == subtrees(
        "def total(items):\n    return items\n", "python")
    assert subtrees("x = 1", "python", with_depth=True) == [
        ("(module (expression_statement (assignment left: (identifier) right: (integer))))", 1),
        ("(expression_statement (assignment left: (identifier) right: (integer)))", 2),
        ("(assignment left: (identifier) right: (integer))", 3),
    ]
