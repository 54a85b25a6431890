"""`codelm analyze`: every view, formats and the user errors (exit 2)."""

from __future__ import annotations

import io
import json
import shutil
import sys

import pytest

from codelm.cli.main import main

PROGRAM = "def f(a):\n    x = a + 1\n    return x\n"


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM, encoding="utf-8")
    return path


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_dfg_json_is_the_documented_shape(capsys, source):
    code, out, _ = run(capsys, "analyze", source, "--dfg")
    assert code == 0
    assert json.loads(out) == {
        "language": "python",
        "nodes": [{"id": 0, "name": "f", "line": 1, "col": 4}, {"id": 1, "name": "a", "line": 1, "col": 6},
                  {"id": 2, "name": "x", "line": 2, "col": 4}, {"id": 3, "name": "a", "line": 2, "col": 8},
                  {"id": 4, "name": "x", "line": 3, "col": 11}],
        "edges": [{"src": 1, "dst": 3, "kind": "comesFrom"}, {"src": 2, "dst": 4, "kind": "comesFrom"},
                  {"src": 3, "dst": 2, "kind": "computedFrom"}],
    }


def test_cfg_json_and_dot(capsys, source, tmp_path):
    code, out, _ = run(capsys, "analyze", source, "--cfg")
    assert code == 0
    doc = json.loads(out)
    assert doc["language"] == "python" and [f["name"] for f in doc["functions"]] == ["f"]
    assert doc["functions"][0]["blocks"] == [{"id": 0, "kind": "entry", "lines": [1, 1]},
                                             {"id": 1, "kind": "basic", "lines": [2, 3]},
                                             {"id": 2, "kind": "exit", "lines": [3, 3]}]
    code, out, _ = run(capsys, "analyze", source, "--cfg", "--format", "dot")
    assert code == 0 and out.startswith("digraph cfg {") and '"f0_1" -> "f0_2" [label="return"];' in out
    target = tmp_path / "g.dot"
    code, out, _ = run(capsys, "analyze", source, "--dfg", "--format", "dot", "-o", target, "--json")
    assert code == 0 and json.loads(out) == {"output": str(target), "format": "dot"}
    assert target.read_text().startswith("digraph dfg {")


def test_ast_tokens_functions_identifiers(capsys, source):
    code, out, _ = run(capsys, "analyze", source, "--ast")
    tree = json.loads(out)
    assert code == 0 and tree["type"] == "module" and tree["errors"] == []
    assert tree["children"][0]["type"] == "function_definition"
    code, out, _ = run(capsys, "analyze", source, "--tokens")
    toks = json.loads(out)["tokens"]
    assert toks[0] == {"text": "def", "kind": "keyword", "start": 0, "end": 3, "line": 1, "col": 0,
                       "type": "def"}
    code, out, _ = run(capsys, "analyze", source, "--functions")
    assert [f["signature"] for f in json.loads(out)["functions"]] == ["def f(a)"]
    code, out, _ = run(capsys, "analyze", source, "--identifiers")
    ids = json.loads(out)["identifiers"]
    assert [o["definition"] for o in ids["x"]] == [True, False]


def test_syntax_errors_are_reported_not_fatal(capsys, tmp_path):
    broken = tmp_path / "broken.js"
    broken.write_text("function f( { return 1; }\n", encoding="utf-8")
    code, out, err = run(capsys, "analyze", broken, "--ast")
    assert code == 0 and json.loads(out)["errors"]
    code, out, err = run(capsys, "analyze", broken, "--functions")
    assert code == 0 and "syntax error" in err


def test_stdin_with_lang(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"int x = 1;\n")))
    code, out, _ = run(capsys, "analyze", "-", "--lang", "c", "--tokens")
    assert code == 0 and [t["text"] for t in json.loads(out)["tokens"]] == ["int", "x", "=", "1", ";"]


def test_png_needs_graphviz(capsys, source, tmp_path):
    target = tmp_path / "cfg.png"
    code, _, err = run(capsys, "analyze", source, "--cfg", "--format", "png", "-o", target)
    if shutil.which("dot"):
        assert code == 0 and target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert code == 2
        assert "rendering PNG needs Graphviz's `dot` program" in err
        assert "apt-get install graphviz" in err and not target.exists()


def test_user_errors_exit_2(capsys, tmp_path, source):
    binary = tmp_path / "blob.py"
    binary.write_bytes(b"\x7fELF\x00\x01")
    code, _, err = run(capsys, "analyze", binary, "--ast")
    assert code == 2 and "looks binary (NUL byte at offset 4)" in err
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"s = '\xe9'\n")
    code, _, err = run(capsys, "analyze", latin, "--ast")
    assert code == 2 and "is not UTF-8 text (undecodable byte at offset 5)" in err
    code, _, err = run(capsys, "analyze", tmp_path / "missing.py", "--ast")
    assert code == 2 and "is not a file" in err
    kotlin = tmp_path / "a.kt"
    kotlin.write_text("fun main() {}\n")
    code, _, err = run(capsys, "analyze", kotlin, "--ast")
    assert code == 2 and "is kotlin, which has no bundled grammar" in err
    unknown = tmp_path / "notes"
    unknown.write_text("hello\n")
    code, _, err = run(capsys, "analyze", unknown, "--ast")
    assert code == 2 and "cannot tell the language" in err and "pass --lang" in err
    code, _, err = run(capsys, "analyze", source)
    assert code == 2 and "choose exactly one view" in err
    code, _, err = run(capsys, "analyze", source, "--tokens", "--format", "dot")
    assert code == 2 and "--format dot is only for --ast, --dfg and --cfg" in err
    code, _, err = run(capsys, "analyze", source, "--dfg", "--lang", "rust")
    assert code == 2 and "no data-flow analysis for 'rust'" in err
