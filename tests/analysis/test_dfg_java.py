"""Java data-flow graphs: exact node lists and edge sets (cF comesFrom, cP computedFrom)."""

from __future__ import annotations


def test_declaration_assignment_augmented_return(dfg, expect):
    nodes, edges = dfg("""
        class A {
          int f(int a, int b) {
            int c = a + b;
            c += a;
            return c;
          }
        }
    """, "java")
    assert nodes == ["a#1:d", "b#1:d", "c#1:d", "a#2:u", "b#2:u", "c#2:d", "a#3:u", "c#3:u"]
    assert edges == expect("""
        a#1 -> a#2 cF
        b#1 -> b#2 cF
        a#2 -> c#1 cP
        b#2 -> c#1 cP
        c#1 -> c#2 cP
        a#1 -> a#3 cF
        a#3 -> c#2 cP
        c#2 -> c#3 cF
    """)


def test_if_else_chain_and_several_declarators(dfg, expect):
    nodes, edges = dfg("""
        class A {
          int sign(int n) {
            int s, t = n;
            if (n > 0) { s = 1; } else if (n < 0) { s = -1; } else { s = 0; }
            return s * t;
          }
        }
    """, "java")
    assert nodes == ["n#1:d", "s#1:d", "t#1:d", "n#2:u", "n#3:u", "s#2:d", "n#4:u", "s#3:d",
                     "s#4:d", "s#5:u", "t#2:u"]
    assert edges == expect("""
        n#1 -> n#2 cF
        n#1 -> n#3 cF
        n#1 -> n#4 cF
        n#2 -> t#1 cP
        s#2 -> s#5 cF
        s#3 -> s#5 cF
        s#4 -> s#5 cF
        t#1 -> t#2 cF
    """)


def test_c_style_for_loop_carried_and_array_reads(dfg, expect):
    nodes, edges = dfg("""
        class A {
          int sum(int[] xs) {
            int total = 0;
            for (int i = 0; i < xs.length; i++) {
              total = total + xs[i];
            }
            return total;
          }
        }
    """, "java")
    assert nodes == ["xs#1:d", "total#1:d", "i#1:d", "i#2:u", "xs#2:u", "xs.length#1:u",
                     "i#3:d", "total#2:d", "total#3:u", "xs#3:u", "i#4:u", "total#4:u"]
    assert edges == expect("""
        xs#1 -> xs#2 cF
        xs#1 -> xs#3 cF
        i#1 -> i#2 cF
        i#3 -> i#2 cF
        i#1 -> i#3 cP
        i#1 -> i#4 cF
        i#3 -> i#4 cF
        total#1 -> total#3 cF
        total#2 -> total#3 cF
        total#3 -> total#2 cP
        xs#3 -> total#2 cP
        i#4 -> total#2 cP
        total#1 -> total#4 cF
        total#2 -> total#4 cF
    """)


def test_enhanced_for_while_break_continue(dfg, expect):
    nodes, edges = dfg("""
        class A {
          int count(java.util.List<String> words) {
            int n = 0;
            for (String w : words) {
              if (w.isEmpty()) continue;
              n++;
            }
            while (n > 10) {
              n = n / 2;
              if (n == 7) break;
            }
            return n;
          }
        }
    """, "java")
    assert nodes == ["words#1:d", "n#1:d", "w#1:d", "words#2:u", "w#2:u", "n#2:d", "n#3:u",
                     "n#4:d", "n#5:u", "n#6:u", "n#7:u"]
    assert edges == expect("""
        words#1 -> words#2 cF
        words#2 -> w#1 cP
        w#1 -> w#2 cF
        n#1 -> n#2 cP
        n#1 -> n#3 cF
        n#2 -> n#3 cF
        n#4 -> n#3 cF
        n#1 -> n#5 cF
        n#2 -> n#5 cF
        n#4 -> n#5 cF
        n#5 -> n#4 cP
        n#4 -> n#6 cF
        n#1 -> n#7 cF
        n#2 -> n#7 cF
        n#4 -> n#7 cF
    """)


def test_try_catch_finally_and_switch_fallthrough(dfg, expect):
    nodes, edges = dfg("""
        class A {
          int parse(String s) {
            int v;
            try {
              v = Integer.parseInt(s);
            } catch (NumberFormatException e) {
              v = e.getMessage().length();
            } finally {
              log(s);
            }
            switch (v) {
              case 0: v = 1;
              case 1: v = v * 2; break;
              default: v = -v;
            }
            return v;
          }
        }
    """, "java")
    assert nodes == ["s#1:d", "v#1:d", "v#2:d", "Integer#1:u", "s#2:u", "e#1:d", "v#3:d",
                     "e#2:u", "s#3:u", "v#4:u", "v#5:d", "v#6:d", "v#7:u", "v#8:d", "v#9:u",
                     "v#10:u"]
    assert edges == expect("""
        s#1 -> s#2 cF
        Integer#1 -> v#2 cP
        s#2 -> v#2 cP
        e#1 -> e#2 cF
        e#2 -> v#3 cP
        s#1 -> s#3 cF
        v#2 -> v#4 cF
        v#3 -> v#4 cF
        v#2 -> v#7 cF
        v#3 -> v#7 cF
        v#5 -> v#7 cF
        v#7 -> v#6 cP
        v#2 -> v#9 cF
        v#3 -> v#9 cF
        v#9 -> v#8 cP
        v#6 -> v#10 cF
        v#8 -> v#10 cF
    """)


def test_fields_through_this_lambda_and_array_store(dfg, expect):
    nodes, edges = dfg("""
        class Acc {
          private int total = 0;
          void add(int[] xs, int k) {
            this.total += k;
            xs[0] = total;
            java.util.function.IntUnaryOperator f = y -> y + k;
            total = f.applyAsInt(xs[0]);
          }
        }
    """, "java")
    assert nodes == ["total#1:d", "xs#1:d", "k#1:d", "total#2:d", "k#2:u", "xs#2:d",
                     "total#3:u", "f#1:d", "y#1:d", "y#2:u", "k#3:u", "total#4:d", "f#2:u",
                     "xs#3:u"]
    assert edges == expect("""
        total#1 -> total#2 cP
        k#1 -> k#2 cF
        k#2 -> total#2 cP
        xs#1 -> xs#2 cP
        total#3 -> xs#2 cP
        total#2 -> total#3 cF
        y#1 -> y#2 cF
        k#1 -> k#3 cF
        f#1 -> f#2 cF
        xs#2 -> xs#3 cF
        f#2 -> total#4 cP
        xs#3 -> total#4 cP
    """)
