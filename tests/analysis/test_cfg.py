"""Control-flow graphs: exact blocks (id, kind, lines) and labelled edges, worked out by hand."""

from __future__ import annotations

import textwrap

import pytest

from codelm.analysis import cfg_dot, control_flow
from codelm.errors import ConfigError


def graph(source: str, language: str, name: str | None = None):
    cfgs = control_flow(textwrap.dedent(source).lstrip("\n"), language)
    cfg = cfgs[0] if name is None else next(c for c in cfgs if c.name == name)
    blocks = [(b.id, b.kind, tuple(b.lines)) for b in cfg.blocks]
    edges = {(e.src, e.dst, e.label) for e in cfg.edges}
    return blocks, edges


def test_python_nested_loops_break_continue_and_loop_else():
    blocks, edges = graph("""
        def find(grid, target):
            for row in grid:
                for cell in row:
                    if cell == target:
                        break
                    if cell < 0:
                        continue
                    log(cell)
                else:
                    continue
                return row
            return None
    """, "python")
    assert blocks == [(0, "entry", (1, 1)), (1, "loop", (2, 2)), (2, "loop", (3, 3)),
                      (3, "condition", (4, 4)), (4, "basic", (5, 5)), (5, "condition", (6, 6)),
                      (6, "basic", (7, 7)), (7, "basic", (8, 8)), (8, "basic", (10, 10)),
                      (9, "basic", (11, 11)), (10, "basic", (12, 12)), (11, "exit", (12, 12))]
    assert edges == {(0, 1, ""), (1, 2, "next"), (1, 10, "done"), (2, 3, "next"), (2, 8, "done"),
                     (3, 4, "true"), (3, 5, "false"), (4, 9, "break"), (5, 6, "true"),
                     (5, 7, "false"), (6, 2, "continue"), (7, 2, ""), (8, 1, "continue"),
                     (9, 11, "return"), (10, 11, "return")}


def test_python_for_else_with_elif_inside():
    blocks, edges = graph("""
        def f(xs):
            total = 0
            for x in xs:
                if x < 0:
                    continue
                elif x > 100:
                    break
                total += x
            else:
                total = -1
            return total
    """, "python")
    assert blocks == [(0, "entry", (1, 1)), (1, "basic", (2, 2)), (2, "loop", (3, 3)),
                      (3, "condition", (4, 4)), (4, "basic", (5, 5)), (5, "condition", (6, 6)),
                      (6, "basic", (7, 7)), (7, "basic", (8, 8)), (8, "basic", (10, 10)),
                      (9, "basic", (11, 11)), (10, "exit", (11, 11))]
    assert edges == {(0, 1, ""), (1, 2, ""), (2, 3, "next"), (2, 8, "done"), (3, 4, "true"),
                     (3, 5, "false"), (4, 2, "continue"), (5, 6, "true"), (5, 7, "false"),
                     (6, 9, "break"), (7, 2, ""), (8, 9, ""), (9, 10, "return")}


def test_python_try_finally_with_return():
    blocks, edges = graph("""
        def g():
            try:
                return h()
            finally:
                cleanup()
    """, "python")
    assert blocks == [(0, "entry", (1, 1)), (1, "basic", (3, 3)), (2, "finally", (4, 5)),
                      (3, "exit", (5, 5))]
    # the return goes through finally; so may an exception of h(), which then propagates
    assert edges == {(0, 1, ""), (1, 2, "return"), (1, 2, "exception"), (2, 3, "return"),
                     (2, 3, "raise")}


def test_python_try_except_else_finally_in_loop():
    blocks, edges = graph("""
        def k(a):
            while a:
                try:
                    a = step(a)
                except ValueError as e:
                    raise
                except KeyError:
                    break
                else:
                    log(a)
                finally:
                    done()
            return a
    """, "python")
    assert blocks == [(0, "entry", (1, 1)), (1, "condition", (2, 2)), (2, "basic", (4, 4)),
                      (3, "handler", (5, 6)), (4, "handler", (7, 8)), (5, "basic", (10, 10)),
                      (6, "finally", (11, 12)), (7, "basic", (13, 13)), (8, "exit", (13, 13))]
    assert edges == {(0, 1, ""), (1, 2, "true"), (1, 7, "false"), (2, 3, "exception"),
                     (2, 4, "exception"), (2, 5, ""), (3, 6, "raise"), (4, 6, "break"),
                     (5, 6, ""), (6, 1, ""), (6, 7, "break"), (6, 8, "raise"), (7, 8, "return")}


def test_python_elif_chain():
    blocks, edges = graph("""
        def classify(n):
            if n < 0:
                kind = "neg"
            elif n == 0:
                kind = "zero"
            elif n < 10:
                return "small"
            else:
                kind = "big"
            return kind
    """, "python")
    assert blocks == [(0, "entry", (1, 1)), (1, "condition", (2, 2)), (2, "basic", (3, 3)),
                      (3, "condition", (4, 4)), (4, "basic", (5, 5)), (5, "condition", (6, 6)),
                      (6, "basic", (7, 7)), (7, "basic", (9, 9)), (8, "basic", (10, 10)),
                      (9, "exit", (10, 10))]
    assert edges == {(0, 1, ""), (1, 2, "true"), (1, 3, "false"), (3, 4, "true"),
                     (3, 5, "false"), (5, 6, "true"), (5, 7, "false"), (6, 9, "return"),
                     (2, 8, ""), (4, 8, ""), (7, 8, ""), (8, 9, "return")}


def test_python_match_without_wildcard_and_module_graph():
    source = """
        def dispatch(cmd):
            match cmd:
                case "go":
                    move()
                case "stop":
                    halt()
            return cmd
    """
    blocks, edges = graph(source, "python")
    assert blocks == [(0, "entry", (1, 1)), (1, "switch", (2, 2)), (2, "case", (3, 4)),
                      (3, "case", (5, 6)), (4, "basic", (7, 7)), (5, "exit", (7, 7))]
    assert edges == {(0, 1, ""), (1, 2, "case"), (1, 3, "case"), (1, 4, "default"), (2, 4, ""),
                     (3, 4, ""), (4, 5, "return")}
    assert [c.name for c in control_flow(textwrap.dedent(source), "python")] == ["dispatch"]
    module = control_flow("x = 1\nif x:\n    print(x)\n", "python")
    assert [c.name for c in module] == ["<module>"]
    assert [(b.id, b.kind, tuple(b.lines)) for b in module[0].blocks] == [
        (0, "entry", (1, 1)), (1, "basic", (1, 1)), (2, "condition", (2, 2)), (3, "basic", (3, 3)),
        (4, "exit", (3, 3))]


JAVA = """
    class A {
      int f(int[] xs) {
        int total = 0;
        outer:
        for (int i = 0; i < xs.length; i++) {
          for (int x : xs) {
            if (x < 0) continue outer;
            if (x == 0) break;
            total += x;
          }
        }
        return total;
      }
      int g(int x) {
        try {
          if (x > 0) return x;
          throw new IllegalStateException();
        } catch (IllegalStateException e) {
          x = -1;
        } finally {
          log(x);
        }
        switch (x) {
          case 1: x = 2;
          case 2: x = 3; break;
          default: x = 4;
        }
        do { x--; } while (x > 0);
        return x;
      }
      String h(int n) {
        if (n < 0) return "neg";
        else if (n == 0) return "zero";
        else if (n < 10) { n = n * 2; }
        else n = 0;
        return "" + n;
      }
    }
"""


def test_java_nested_loops_labelled_continue_and_break():
    blocks, edges = graph(JAVA, "java", "A.f")
    assert blocks == [(0, "entry", (2, 2)), (1, "basic", (3, 5)), (2, "condition", (5, 5)),
                      (3, "loop", (6, 6)), (4, "condition", (7, 7)), (5, "basic", (7, 7)),
                      (6, "condition", (8, 8)), (7, "basic", (8, 8)), (8, "basic", (9, 9)),
                      (9, "basic", (5, 5)), (10, "basic", (12, 12)), (11, "exit", (13, 13))]
    # `continue outer` and the inner `break` both reach the outer update `i++` (block 9)
    assert edges == {(0, 1, ""), (1, 2, ""), (2, 3, "true"), (2, 10, "false"), (3, 4, "next"),
                     (3, 9, "done"), (4, 5, "true"), (4, 6, "false"), (5, 9, "continue"),
                     (6, 7, "true"), (6, 8, "false"), (7, 9, "break"), (8, 3, ""), (9, 2, ""),
                     (10, 11, "return")}


def test_java_try_catch_finally_return_switch_fallthrough_do_while():
    blocks, edges = graph(JAVA, "java", "A.g")
    assert blocks == [(0, "entry", (14, 14)), (1, "condition", (16, 16)), (2, "basic", (16, 16)),
                      (3, "basic", (17, 17)), (4, "handler", (18, 19)), (5, "finally", (20, 21)),
                      (6, "switch", (23, 23)), (7, "case", (24, 24)), (8, "case", (25, 25)),
                      (9, "case", (26, 26)), (10, "basic", (28, 28)), (11, "condition", (28, 28)),
                      (12, "basic", (29, 29)), (13, "exit", (30, 30))]
    assert edges == {(0, 1, ""), (1, 2, "true"), (1, 3, "false"), (1, 4, "exception"),
                     (2, 4, "exception"), (2, 5, "return"), (3, 4, "raise"), (4, 5, ""),
                     (5, 6, ""), (5, 13, "return"), (6, 7, "case"), (6, 8, "case"),
                     (6, 9, "default"), (7, 8, ""), (8, 10, "break"), (9, 10, ""), (10, 11, ""),
                     (11, 10, "true"), (11, 12, "false"), (12, 13, "return")}


def test_java_else_if_chain():
    blocks, edges = graph(JAVA, "java", "A.h")
    assert blocks == [(0, "entry", (31, 31)), (1, "condition", (32, 32)), (2, "basic", (32, 32)),
                      (3, "condition", (33, 33)), (4, "basic", (33, 33)),
                      (5, "condition", (34, 34)), (6, "basic", (34, 34)), (7, "basic", (35, 35)),
                      (8, "basic", (36, 36)), (9, "exit", (37, 37))]
    assert edges == {(0, 1, ""), (1, 2, "true"), (1, 3, "false"), (2, 9, "return"),
                     (3, 4, "true"), (3, 5, "false"), (4, 9, "return"), (5, 6, "true"),
                     (5, 7, "false"), (6, 8, ""), (7, 8, ""), (8, 9, "return")}


def test_other_languages_share_the_builder():
    blocks, edges = graph("""
        function f(xs) {
          let t = 0;
          loop: for (const x of xs) {
            try { if (x) continue loop; t += x; } catch (e) { return -1; } finally { t++; }
          }
          return t;
        }
    """, "javascript")
    assert [b[1] for b in blocks] == ["entry", "basic", "loop", "condition", "basic", "basic",
                                      "handler", "finally", "basic", "exit"]
    assert edges == {(0, 1, ""), (1, 2, ""), (2, 3, "next"), (2, 8, "done"), (3, 4, "true"),
                     (3, 5, "false"), (3, 6, "exception"), (4, 6, "exception"),
                     (4, 7, "continue"), (5, 6, "exception"), (5, 7, ""), (6, 7, "return"),
                     (7, 2, ""), (7, 2, "continue"), (7, 9, "return"), (8, 9, "return")}
    blocks, edges = graph("""
        package main
        func f(n int) int {
            s := 0
            for i := 0; i < n; i++ {
                switch {
                case i%2 == 0:
                    continue
                default:
                    s += i
                }
            }
            for s > 10 { s /= 2 }
            return s
        }
    """, "go")
    assert blocks == [(0, "entry", (2, 2)), (1, "basic", (3, 4)), (2, "condition", (4, 4)),
                      (3, "switch", (5, 5)), (4, "case", (6, 7)), (5, "case", (8, 9)),
                      (6, "basic", (4, 4)), (7, "condition", (12, 12)), (8, "basic", (12, 12)),
                      (9, "basic", (13, 13)), (10, "exit", (14, 14))]
    assert edges == {(0, 1, ""), (1, 2, ""), (2, 3, "true"), (2, 7, "false"), (3, 4, "case"),
                     (3, 5, "default"), (4, 6, "continue"), (5, 6, ""), (6, 2, ""),
                     (7, 8, "true"), (7, 9, "false"), (8, 7, ""), (9, 10, "return")}
    blocks, edges = graph("""
        int f(int n) {
          int s = 0;
          while (n--) {
            if (n == 3) break;
            s += n;
          }
          return s;
        }
    """, "c")
    assert edges == {(0, 1, ""), (1, 2, ""), (2, 3, "true"), (2, 6, "false"), (3, 4, "true"),
                     (3, 5, "false"), (4, 6, "break"), (5, 2, ""), (6, 7, "return")}


def test_json_and_dot_shapes():
    cfgs = control_flow("def f(x):\n    if x:\n        return 1\n    return 2\n", "python")
    doc = cfgs[0].to_json()
    assert doc == {
        "name": "f",
        "blocks": [{"id": 0, "kind": "entry", "lines": [1, 1]},
                   {"id": 1, "kind": "condition", "lines": [2, 2]},
                   {"id": 2, "kind": "basic", "lines": [3, 3]},
                   {"id": 3, "kind": "basic", "lines": [4, 4]},
                   {"id": 4, "kind": "exit", "lines": [4, 4]}],
        "edges": [{"src": 0, "dst": 1, "label": ""}, {"src": 1, "dst": 2, "label": "true"},
                  {"src": 1, "dst": 3, "label": "false"}, {"src": 2, "dst": 4, "label": "return"},
                  {"src": 3, "dst": 4, "label": "return"}],
    }
    dot = cfg_dot(cfgs)
    assert dot.startswith("digraph cfg {") and dot.rstrip().endswith("}")
    assert '"f0_1" -> "f0_2" [label="true"];' in dot
    assert '"f0_1" [label="condition 2-2", shape=diamond];' in dot


def test_unsupported_language_is_named():
    with pytest.raises(ConfigError, match="no control-flow analysis for 'ruby'; supported: python"):
        control_flow("def f; end", "ruby")
