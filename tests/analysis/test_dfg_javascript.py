"""JavaScript data-flow graphs: exact node lists and edge sets (cF comesFrom, cP computedFrom)."""

from __future__ import annotations


def test_default_and_rest_parameters_assignment_augmented(dfg, expect):
    nodes, edges = dfg("""
        function f(a, b = a, ...rest) {
          let c = a + b;
          c += rest.length;
          return c;
        }
    """, "javascript")
    assert nodes == ["f#1:d", "a#1:d", "b#1:d", "a#2:u", "rest#1:d", "c#1:d", "a#3:u", "b#2:u",
                     "c#2:d", "rest#2:u", "rest.length#1:u", "c#3:u"]
    assert edges == expect("""
        a#1 -> a#2 cF
        a#2 -> b#1 cP
        a#1 -> a#3 cF
        b#1 -> b#2 cF
        a#3 -> c#1 cP
        b#2 -> c#1 cP
        c#1 -> c#2 cP
        rest#1 -> rest#2 cF
        rest#2 -> c#2 cP
        rest.length#1 -> c#2 cP
        c#2 -> c#3 cF
    """)


def test_destructuring_and_swap(dfg, expect):
    nodes, edges = dfg("""
        function g(obj, arr) {
          const { x, y: z } = obj;
          let [p, q] = arr;
          [p, q] = [q, p];
          return x + z + p + q;
        }
    """, "javascript")
    assert nodes == ["g#1:d", "obj#1:d", "arr#1:d", "x#1:d", "z#1:d", "obj#2:u", "p#1:d",
                     "q#1:d", "arr#2:u", "p#2:d", "q#2:d", "q#3:u", "p#3:u", "x#2:u", "z#2:u",
                     "p#4:u", "q#4:u"]
    assert edges == expect("""
        obj#1 -> obj#2 cF
        obj#2 -> x#1 cP
        obj#2 -> z#1 cP
        arr#1 -> arr#2 cF
        arr#2 -> p#1 cP
        arr#2 -> q#1 cP
        q#1 -> q#3 cF
        p#1 -> p#3 cF
        q#3 -> p#2 cP
        p#3 -> q#2 cP
        x#1 -> x#2 cF
        z#1 -> z#2 cF
        p#2 -> p#4 cF
        q#2 -> q#4 cF
    """)


def test_if_else_ternary_and_call_result(dfg, expect):
    nodes, edges = dfg("""
        function h(n) {
          let s;
          if (n > 0) {
            s = compute(n);
          } else {
            s = n < 0 ? -1 : 0;
          }
          return s;
        }
    """, "javascript")
    assert nodes == ["h#1:d", "n#1:d", "s#1:d", "n#2:u", "s#2:d", "compute#1:u", "n#3:u",
                     "s#3:d", "n#4:u", "s#4:u"]
    assert edges == expect("""
        n#1 -> n#2 cF
        n#1 -> n#3 cF
        n#1 -> n#4 cF
        compute#1 -> s#2 cP
        n#3 -> s#2 cP
        n#4 -> s#3 cP
        s#2 -> s#4 cF
        s#3 -> s#4 cF
    """)


def test_for_and_for_of_with_continue(dfg, expect):
    nodes, edges = dfg("""
        function sum(xs) {
          let total = 0;
          for (let i = 0; i < xs.length; i++) {
            total += xs[i];
          }
          for (const x of xs) {
            if (x < 0) continue;
            total = total - x;
          }
          return total;
        }
    """, "javascript")
    assert nodes == ["sum#1:d", "xs#1:d", "total#1:d", "i#1:d", "i#2:u", "xs#2:u",
                     "xs.length#1:u", "i#3:d", "total#2:d", "xs#3:u", "i#4:u", "x#1:d", "xs#4:u",
                     "x#2:u", "total#3:d", "total#4:u", "x#3:u", "total#5:u"]
    assert edges == expect("""
        xs#1 -> xs#2 cF
        xs#1 -> xs#3 cF
        xs#1 -> xs#4 cF
        i#1 -> i#2 cF
        i#3 -> i#2 cF
        i#1 -> i#3 cP
        i#1 -> i#4 cF
        i#3 -> i#4 cF
        total#1 -> total#2 cP
        xs#3 -> total#2 cP
        i#4 -> total#2 cP
        xs#4 -> x#1 cP
        x#1 -> x#2 cF
        x#1 -> x#3 cF
        total#1 -> total#4 cF
        total#2 -> total#4 cF
        total#3 -> total#4 cF
        total#4 -> total#3 cP
        x#3 -> total#3 cP
        total#1 -> total#5 cF
        total#2 -> total#5 cF
        total#3 -> total#5 cF
    """)


def test_class_this_while_do_and_closure(dfg, expect):
    nodes, edges = dfg("""
        class Box {
          constructor(v) {
            this.v = v;
          }
          shrink() {
            let n = this.v;
            while (true) {
              n = half(n);
              if (n < 1) break;
            }
            do { n++; } while (n < 3);
            const show = () => n;
            return show();
          }
        }
    """, "javascript")
    assert nodes == ["Box#1:d", "v#1:d", "this.v#1:d", "v#2:u", "n#1:d", "this.v#2:u", "n#2:d",
                     "half#1:u", "n#3:u", "n#4:u", "n#5:d", "n#6:u", "show#1:d", "n#7:u",
                     "show#2:u"]
    assert edges == expect("""
        v#1 -> v#2 cF
        v#2 -> this.v#1 cP
        this.v#2 -> n#1 cP
        n#1 -> n#3 cF
        n#2 -> n#3 cF
        half#1 -> n#2 cP
        n#3 -> n#2 cP
        n#2 -> n#4 cF
        n#1 -> n#5 cP
        n#2 -> n#5 cP
        n#5 -> n#6 cF
        n#5 -> n#7 cF
        show#1 -> show#2 cF
    """)


def test_import_try_catch_finally_and_switch(dfg, expect):
    nodes, edges = dfg("""
        import { parse as p } from "lib";
        function run(src) {
          let out = null;
          try {
            out = p(src);
          } catch (err) {
            out = err.message;
          } finally {
            log(src);
          }
          switch (out) {
            case "a": out = 1;
            case "b": out = out + 1; break;
            default: out = 0;
          }
          return out;
        }
    """, "javascript")
    assert nodes == ["p#1:d", "run#1:d", "src#1:d", "out#1:d", "out#2:d", "p#2:u", "src#2:u",
                     "err#1:d", "out#3:d", "err#2:u", "err.message#1:u", "log#1:u", "src#3:u",
                     "out#4:u", "out#5:d", "out#6:d", "out#7:u", "out#8:d", "out#9:u"]
    assert edges == expect("""
        p#1 -> p#2 cF
        src#1 -> src#2 cF
        p#2 -> out#2 cP
        src#2 -> out#2 cP
        err#1 -> err#2 cF
        err#2 -> out#3 cP
        err.message#1 -> out#3 cP
        src#1 -> src#3 cF
        out#2 -> out#4 cF
        out#3 -> out#4 cF
        out#2 -> out#7 cF
        out#3 -> out#7 cF
        out#5 -> out#7 cF
        out#7 -> out#6 cP
        out#6 -> out#9 cF
        out#8 -> out#9 cF
    """)


def test_typescript_types_carry_no_flow(dfg, expect):
    nodes, edges = dfg("""
        function area(w: number, h: number = w): number {
          const a: number = w * h;
          return a;
        }
    """, "typescript")
    assert nodes == ["area#1:d", "w#1:d", "h#1:d", "w#2:u", "a#1:d", "w#3:u", "h#2:u", "a#2:u"]
    assert edges == expect("""
        w#1 -> w#2 cF
        w#2 -> h#1 cP
        w#1 -> w#3 cF
        h#1 -> h#2 cF
        w#3 -> a#1 cP
        h#2 -> a#1 cP
        a#1 -> a#2 cF
    """)
