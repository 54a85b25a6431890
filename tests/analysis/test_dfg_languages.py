"""Data-flow graphs for Go, C, C++, C#, Ruby and PHP (two programs each).

cF = comesFrom, cP = computedFrom; `name#k` is the k-th node of that name.
"""

from __future__ import annotations

import pytest

from codelm.analysis import DFG_LANGUAGES, data_flow
from codelm.errors import ConfigError


def test_go_short_declarations_augmented_if_else(dfg, expect):
    nodes, edges = dfg("""
        package main

        func scale(a, b int) int {
            x, y := a, b*2
            x += y
            if x > 10 {
                y = x
            } else {
                y = -x
            }
            return y
        }
    """, "go")
    assert nodes == ["scale#1:d", "a#1:d", "b#1:d", "x#1:d", "y#1:d", "a#2:u", "b#2:u", "x#2:d",
                     "y#2:u", "x#3:u", "y#3:d", "x#4:u", "y#4:d", "x#5:u", "y#5:u"]
    assert edges == expect("""
        a#1 -> a#2 cF
        b#1 -> b#2 cF
        a#2 -> x#1 cP
        b#2 -> y#1 cP
        x#1 -> x#2 cP
        y#1 -> y#2 cF
        y#2 -> x#2 cP
        x#2 -> x#3 cF
        x#2 -> x#4 cF
        x#2 -> x#5 cF
        x#4 -> y#3 cP
        x#5 -> y#4 cP
        y#3 -> y#5 cF
        y#4 -> y#5 cF
    """)


def test_go_for_clause_range_and_blank_identifier(dfg, expect):
    nodes, edges = dfg("""
        package main

        func count(items []string) int {
            n := 0
            for i := 0; i < len(items); i++ {
                if items[i] == "" {
                    continue
                }
                n++
            }
            for _, s := range items {
                n = n + len(s)
            }
            return n
        }
    """, "go")
    assert nodes == ["count#1:d", "items#1:d", "n#1:d", "i#1:d", "i#2:u", "len#1:u", "items#2:u",
                     "i#3:d", "items#3:u", "i#4:u", "n#2:d", "s#1:d", "items#4:u", "n#3:d",
                     "n#4:u", "len#2:u", "s#2:u", "n#5:u"]
    assert edges == expect("""
        items#1 -> items#2 cF
        items#1 -> items#3 cF
        items#1 -> items#4 cF
        i#1 -> i#2 cF
        i#3 -> i#2 cF
        i#1 -> i#3 cP
        i#1 -> i#4 cF
        i#3 -> i#4 cF
        n#1 -> n#2 cP
        items#4 -> s#1 cP
        n#1 -> n#4 cF
        n#2 -> n#4 cF
        n#3 -> n#4 cF
        n#4 -> n#3 cP
        len#2 -> n#3 cP
        s#2 -> n#3 cP
        s#1 -> s#2 cF
        len#1 -> len#2 cF
        n#1 -> n#5 cF
        n#2 -> n#5 cF
        n#3 -> n#5 cF
    """)


def test_c_if_else_chain(dfg, expect):
    nodes, edges = dfg("""
        int clamp(int v, int lo, int hi) {
          int r = v;
          if (r < lo) r = lo;
          else if (r > hi) r = hi;
          return r;
        }
    """, "c")
    assert nodes == ["clamp#1:d", "v#1:d", "lo#1:d", "hi#1:d", "r#1:d", "v#2:u", "r#2:u",
                     "lo#2:u", "r#3:d", "lo#3:u", "r#4:u", "hi#2:u", "r#5:d", "hi#3:u", "r#6:u"]
    assert edges == expect("""
        v#1 -> v#2 cF
        v#2 -> r#1 cP
        r#1 -> r#2 cF
        lo#1 -> lo#2 cF
        lo#1 -> lo#3 cF
        lo#3 -> r#3 cP
        r#1 -> r#4 cF
        hi#1 -> hi#2 cF
        hi#1 -> hi#3 cF
        hi#3 -> r#5 cP
        r#1 -> r#6 cF
        r#3 -> r#6 cF
        r#5 -> r#6 cF
    """)


def test_c_while_array_and_pointer_stores(dfg, expect):
    nodes, edges = dfg("""
        void fill(int *a, int n) {
          int i = 0;
          while (i < n) {
            a[i] = i * i;
            i++;
          }
          *a = n;
        }
    """, "c")
    assert nodes == ["fill#1:d", "a#1:d", "n#1:d", "i#1:d", "i#2:u", "n#2:u", "a#2:d", "i#3:u",
                     "i#4:u", "i#5:u", "i#6:d", "a#3:d", "n#3:u"]
    assert edges == expect("""
        i#1 -> i#2 cF
        i#6 -> i#2 cF
        n#1 -> n#2 cF
        a#1 -> a#2 cP
        i#1 -> i#3 cF
        i#6 -> i#3 cF
        i#1 -> i#4 cF
        i#6 -> i#4 cF
        i#1 -> i#5 cF
        i#6 -> i#5 cF
        i#4 -> a#2 cP
        i#5 -> a#2 cP
        i#1 -> i#6 cP
        a#1 -> a#3 cP
        a#2 -> a#3 cP
        n#3 -> a#3 cP
        n#1 -> n#3 cF
    """)


def test_cpp_range_for(dfg, expect):
    nodes, edges = dfg("""
        int total(const std::vector<int>& xs) {
          int sum = 0;
          for (auto x : xs) {
            sum += x;
          }
          return sum;
        }
    """, "cpp")
    assert nodes == ["total#1:d", "xs#1:d", "sum#1:d", "x#1:d", "xs#2:u", "sum#2:d", "x#2:u",
                     "sum#3:u"]
    assert edges == expect("""
        xs#1 -> xs#2 cF
        xs#2 -> x#1 cP
        sum#1 -> sum#2 cP
        x#1 -> x#2 cF
        x#2 -> sum#2 cP
        sum#1 -> sum#3 cF
        sum#2 -> sum#3 cF
    """)


def test_cpp_method_this_try_catch_lambda(dfg, expect):
    nodes, edges = dfg("""
        class Counter {
         public:
          int bump(int by) {
            try {
              this->count += by;
            } catch (const std::exception &e) {
              count = 0;
            }
            auto twice = [&](int k) { return k * count; };
            return twice(by);
          }
          int count = 0;
        };
    """, "cpp")
    assert nodes == ["by#1:d", "count#1:d", "by#2:u", "e#1:d", "count#2:d", "twice#1:d",
                     "k#1:d", "k#2:u", "count#3:u", "twice#2:u", "by#3:u"]
    assert edges == expect("""
        by#1 -> by#2 cF
        by#2 -> count#1 cP
        count#1 -> count#3 cF
        count#2 -> count#3 cF
        k#1 -> k#2 cF
        twice#1 -> twice#2 cF
        by#1 -> by#3 cF
    """)


def test_csharp_foreach_and_if(dfg, expect):
    nodes, edges = dfg("""
        class A {
          int Max(int[] xs) {
            var best = xs[0];
            foreach (var x in xs) {
              if (x > best) best = x;
            }
            return best;
          }
        }
    """, "csharp")
    assert nodes == ["xs#1:d", "best#1:d", "xs#2:u", "x#1:d", "xs#3:u", "x#2:u", "best#2:u",
                     "best#3:d", "x#3:u", "best#4:u"]
    assert edges == expect("""
        xs#1 -> xs#2 cF
        xs#1 -> xs#3 cF
        xs#2 -> best#1 cP
        xs#3 -> x#1 cP
        x#1 -> x#2 cF
        x#1 -> x#3 cF
        best#1 -> best#2 cF
        best#3 -> best#2 cF
        x#3 -> best#3 cP
        best#1 -> best#4 cF
        best#3 -> best#4 cF
    """)


def test_csharp_fields_out_parameter_tuple_swap_lambda(dfg, expect):
    nodes, edges = dfg("""
        class Acc {
          int total;
          void Add(int v, out int old) {
            old = this.total;
            total += v;
            (old, v) = (v, old);
            Func<int, int> f = y => y + total;
          }
        }
    """, "csharp")
    assert nodes == ["total#1:d", "v#1:d", "old#1:d", "old#2:d", "total#2:u", "total#3:d",
                     "v#2:u", "old#3:d", "v#3:d", "v#4:u", "old#4:u", "f#1:d", "y#1:d", "y#2:u",
                     "total#4:u"]
    assert edges == expect("""
        total#1 -> total#2 cF
        total#2 -> old#2 cP
        total#1 -> total#3 cP
        v#1 -> v#2 cF
        v#2 -> total#3 cP
        v#1 -> v#4 cF
        old#2 -> old#4 cF
        v#4 -> old#3 cP
        old#4 -> v#3 cP
        y#1 -> y#2 cF
        total#3 -> total#4 cF
    """)


def test_ruby_elsif_and_unless_modifier(dfg, expect):
    nodes, edges = dfg("""
        def grade(score)
          if score >= 90
            letter = "A"
          elsif score >= 80
            letter = "B"
          else
            letter = "C"
          end
          letter += "!" unless score < 50
          letter
        end
    """, "ruby")
    assert nodes == ["score#1:d", "score#2:u", "letter#1:d", "score#3:u", "letter#2:d",
                     "letter#3:d", "letter#4:d", "score#4:u", "letter#5:u"]
    assert edges == expect("""
        score#1 -> score#2 cF
        score#1 -> score#3 cF
        score#1 -> score#4 cF
        letter#1 -> letter#4 cP
        letter#2 -> letter#4 cP
        letter#3 -> letter#4 cP
        letter#1 -> letter#5 cF
        letter#2 -> letter#5 cF
        letter#3 -> letter#5 cF
        letter#4 -> letter#5 cF
    """)


def test_ruby_block_loop_next_and_while(dfg, expect):
    nodes, edges = dfg("""
        def total(items)
          sum = 0
          items.each do |item|
            next if item.nil?
            sum += item
          end
          while sum > 100
            sum /= 2
          end
          @last = sum
        end
    """, "ruby")
    assert nodes == ["items#1:d", "sum#1:d", "items#2:u", "item#1:d", "item#2:u",
                     "item.nil?#1:u", "sum#2:d", "item#3:u", "sum#3:u", "sum#4:d", "@last#1:d",
                     "sum#5:u"]
    assert edges == expect("""
        items#1 -> items#2 cF
        item#1 -> item#2 cF
        item#1 -> item#3 cF
        sum#1 -> sum#2 cP
        item#3 -> sum#2 cP
        sum#1 -> sum#3 cF
        sum#2 -> sum#3 cF
        sum#4 -> sum#3 cF
        sum#1 -> sum#4 cP
        sum#2 -> sum#4 cP
        sum#1 -> sum#5 cF
        sum#2 -> sum#5 cF
        sum#4 -> sum#5 cF
        sum#5 -> @last#1 cP
    """)


def test_php_default_parameter_and_augmented(dfg, expect):
    nodes, edges = dfg("""
        <?php
        function price($base, $qty = 1) {
          $total = $base * $qty;
          if ($qty > 10) {
            $total -= $total * 0.1;
          }
          return round($total, 2);
        }
    """, "php")
    assert nodes == ["$base#1:d", "$qty#1:d", "$total#1:d", "$base#2:u", "$qty#2:u", "$qty#3:u",
                     "$total#2:d", "$total#3:u", "$total#4:u"]
    assert edges == expect("""
        $base#1 -> $base#2 cF
        $qty#1 -> $qty#2 cF
        $qty#1 -> $qty#3 cF
        $base#2 -> $total#1 cP
        $qty#2 -> $total#1 cP
        $total#1 -> $total#2 cP
        $total#1 -> $total#3 cF
        $total#3 -> $total#2 cP
        $total#1 -> $total#4 cF
        $total#2 -> $total#4 cF
    """)


def test_php_this_property_foreach_pairs_and_list_swap(dfg, expect):
    nodes, edges = dfg("""
        <?php
        class Cart {
          private $items = [];
          public function add($item) {
            $this->items[] = $item;
            foreach ($this->items as $k => $v) {
              $last = $v;
            }
            [$a, $b] = [$item, $last];
            return $b;
          }
        }
    """, "php")
    assert nodes == ["$items#1:d", "$item#1:d", "$this#1:u", "$this->items#1:d", "$item#2:u",
                     "$this#2:u", "$this->items#2:u", "$k#1:d", "$v#1:d", "$last#1:d", "$v#2:u",
                     "$a#1:d", "$b#1:d", "$item#3:u", "$last#2:u", "$b#2:u"]
    assert edges == expect("""
        $item#1 -> $item#2 cF
        $item#2 -> $this->items#1 cP
        $this#1 -> $this#2 cF
        $this->items#1 -> $this->items#2 cF
        $this#2 -> $k#1 cP
        $this->items#2 -> $k#1 cP
        $this#2 -> $v#1 cP
        $this->items#2 -> $v#1 cP
        $v#1 -> $v#2 cF
        $v#2 -> $last#1 cP
        $item#1 -> $item#3 cF
        $item#3 -> $a#1 cP
        $last#1 -> $last#2 cF
        $last#2 -> $b#1 cP
        $b#1 -> $b#2 cF
    """)


def test_languages_without_data_flow_are_named():
    assert set(DFG_LANGUAGES) >= {"python", "java", "javascript", "go", "c", "cpp", "csharp",
                                  "ruby", "php"}
    with pytest.raises(ConfigError, match="no data-flow analysis for 'rust'; supported: python"):
        data_flow("fn main() {}", "rust")
