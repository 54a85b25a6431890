"""Python data-flow graphs: exact node lists and edge sets, worked out by hand.

cF = comesFrom (a use reached by a definition), cP = computedFrom (a
definition assigned from an expression using the source occurrence).
"""

from __future__ import annotations

from codelm.analysis import data_flow


def test_assignment_augmented_parameters_return(dfg, expect):
    nodes, edges = dfg("""
        def f(a, b):
            c = a + b
            c += a
            return c
    """, "python")
    assert nodes == ["f#1:d", "a#1:d", "b#1:d", "c#1:d", "a#2:u", "b#2:u", "c#2:d", "a#3:u", "c#3:u"]
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


def test_tuple_swap_and_chained_assignment(dfg, expect):
    nodes, edges = dfg("""
        def swap(x, y):
            x, y = y, x
            a = b = x
            return a, b, y
    """, "python")
    assert nodes == ["swap#1:d", "x#1:d", "y#1:d", "x#2:d", "y#2:d", "y#3:u", "x#3:u",
                     "a#1:d", "b#1:d", "x#4:u", "a#2:u", "b#2:u", "y#4:u"]
    assert edges == expect("""
        y#1 -> y#3 cF
        x#1 -> x#3 cF
        y#3 -> x#2 cP
        x#3 -> y#2 cP
        x#2 -> x#4 cF
        x#4 -> b#1 cP
        x#4 -> a#1 cP
        a#1 -> a#2 cF
        b#1 -> b#2 cF
        y#2 -> y#4 cF
    """)


def test_if_elif_else_all_branches_reach(dfg, expect):
    nodes, edges = dfg("""
        def sign(n):
            if n > 0:
                s = 1
            elif n < 0:
                s = -1
            else:
                s = 0
            return s * n
    """, "python")
    assert nodes == ["sign#1:d", "n#1:d", "n#2:u", "s#1:d", "n#3:u", "s#2:d", "s#3:d", "s#4:u",
                     "n#4:u"]
    assert edges == expect("""
        n#1 -> n#2 cF
        n#1 -> n#3 cF
        n#1 -> n#4 cF
        s#1 -> s#4 cF
        s#2 -> s#4 cF
        s#3 -> s#4 cF
    """)


def test_for_target_loop_carried_flow_and_calls(dfg, expect):
    nodes, edges = dfg("""
        def total(xs, limit):
            acc = 0
            for x in xs:
                if x > limit:
                    x = limit
                acc = acc + clip(x)
            return acc
    """, "python")
    assert nodes == ["total#1:d", "xs#1:d", "limit#1:d", "acc#1:d", "x#1:d", "xs#2:u", "x#2:u",
                     "limit#2:u", "x#3:d", "limit#3:u", "acc#2:d", "acc#3:u", "clip#1:u",
                     "x#4:u", "acc#4:u"]
    assert edges == expect("""
        xs#1 -> xs#2 cF
        xs#2 -> x#1 cP
        x#1 -> x#2 cF
        limit#1 -> limit#2 cF
        limit#1 -> limit#3 cF
        limit#3 -> x#3 cP
        x#1 -> x#4 cF
        x#3 -> x#4 cF
        acc#1 -> acc#3 cF
        acc#2 -> acc#3 cF
        acc#3 -> acc#2 cP
        clip#1 -> acc#2 cP
        x#4 -> acc#2 cP
        acc#1 -> acc#4 cF
        acc#2 -> acc#4 cF
    """)


def test_while_with_continue_and_augmented_counters(dfg, expect):
    nodes, edges = dfg("""
        def countdown(n):
            steps = 0
            while n > 0:
                n -= 1
                if n == 5:
                    continue
                steps += 1
            return steps
    """, "python")
    assert nodes == ["countdown#1:d", "n#1:d", "steps#1:d", "n#2:u", "n#3:d", "n#4:u",
                     "steps#2:d", "steps#3:u"]
    assert edges == expect("""
        n#1 -> n#2 cF
        n#3 -> n#2 cF
        n#1 -> n#3 cP
        n#3 -> n#4 cF
        steps#1 -> steps#2 cP
        steps#1 -> steps#3 cF
        steps#2 -> steps#3 cF
    """)


def test_attributes_tuple_targets_break_and_comprehension(dfg, expect):
    nodes, edges = dfg("""
        class Counter:
            def add(self, items):
                for i, item in enumerate(items):
                    if item is None:
                        break
                    self.total += item
                return [v * 2 for v in items if v], self.total
    """, "python")
    assert nodes == ["Counter#1:d", "add#1:d", "self#1:d", "items#1:d", "i#1:d", "item#1:d",
                     "enumerate#1:u", "items#2:u", "item#2:u", "self#2:u", "self.total#1:d",
                     "item#3:u", "v#1:u", "v#2:d", "items#3:u", "v#3:u", "self#3:u",
                     "self.total#2:u"]
    assert edges == expect("""
        items#1 -> items#2 cF
        enumerate#1 -> i#1 cP
        items#2 -> i#1 cP
        enumerate#1 -> item#1 cP
        items#2 -> item#1 cP
        item#1 -> item#2 cF
        self#1 -> self#2 cF
        item#1 -> item#3 cF
        item#3 -> self.total#1 cP
        items#1 -> items#3 cF
        items#3 -> v#2 cP
        v#2 -> v#1 cF
        v#2 -> v#3 cF
        self#1 -> self#3 cF
        self.total#1 -> self.total#2 cF
    """)


def test_try_except_finally_with_and_walrus(dfg, expect):
    nodes, edges = dfg("""
        def load(path):
            try:
                with open(path) as fh:
                    data = fh.read()
            except OSError as err:
                data = str(err)
            finally:
                log(path)
            if (n := len(data)) > 10:
                return n
            return data
    """, "python")
    assert nodes == ["load#1:d", "path#1:d", "open#1:u", "path#2:u", "fh#1:d", "data#1:d",
                     "fh#2:u", "OSError#1:u", "err#1:d", "data#2:d", "str#1:u", "err#2:u",
                     "log#1:u", "path#3:u", "n#1:d", "len#1:u", "data#3:u", "n#2:u", "data#4:u"]
    assert edges == expect("""
        path#1 -> path#2 cF
        open#1 -> fh#1 cP
        path#2 -> fh#1 cP
        fh#1 -> fh#2 cF
        fh#2 -> data#1 cP
        OSError#1 -> err#1 cP
        err#1 -> err#2 cF
        str#1 -> data#2 cP
        err#2 -> data#2 cP
        path#1 -> path#3 cF
        data#1 -> data#3 cF
        data#2 -> data#3 cF
        len#1 -> n#1 cP
        data#3 -> n#1 cP
        n#1 -> n#2 cF
        data#1 -> data#4 cF
        data#2 -> data#4 cF
    """)


def test_handler_sees_definitions_from_anywhere_in_the_try_body(dfg, expect):
    nodes, edges = dfg("""
        try:
            x = 1
            x = f()
        except ValueError:
            print(x)
        print(x)
    """, "python")
    assert nodes == ["x#1:d", "x#2:d", "f#1:u", "ValueError#1:u", "print#1:u", "x#3:u",
                     "print#2:u", "x#4:u"]
    assert edges == expect("""
        f#1 -> x#2 cP
        x#1 -> x#3 cF
        x#2 -> x#3 cF
        print#1 -> print#2 cF
        x#1 -> x#4 cF
        x#2 -> x#4 cF
    """)


def test_literals_mode_and_graphcodebert_items():
    source = "def f(x):\n    y = x * 2\n    return y\n"
    plain = data_flow(source, "python")
    assert [n.name for n in plain.nodes] == ["f", "x", "y", "x", "y"]
    with_literals = data_flow(source, "python", literals=True)
    assert [(n.name, n.role) for n in with_literals.nodes] == [
        ("f", "def"), ("x", "def"), ("y", "def"), ("x", "use"), ("2", "literal"), ("y", "use")]
    assert with_literals.items() == [
        ("f", 0, "comesFrom", [], []),
        ("x", 1, "comesFrom", [], []),
        ("y", 2, "computedFrom", ["x", "2"], [3, 4]),
        ("x", 3, "comesFrom", ["x"], [1]),
        ("2", 4, "comesFrom", [], []),
        ("y", 5, "comesFrom", ["y"], [2]),
    ]


def test_json_shape_and_char_spans_align_with_source():
    source = "def f(é, b):\n    ü = é + b\n    return ü\n"
    graph = data_flow(source, "python")
    doc = graph.to_json()
    assert doc["language"] == "python"
    assert doc["nodes"][:3] == [{"id": 0, "name": "f", "line": 1, "col": 4},
                                {"id": 1, "name": "é", "line": 1, "col": 6},
                                {"id": 2, "name": "b", "line": 1, "col": 9}]
    assert {"src": 1, "dst": 4, "kind": "comesFrom"} in doc["edges"]
    for node in graph.nodes:  # character spans, not UTF-8 bytes
        assert source[node.start:node.end] == node.name
    spans = graph.to_json(spans=True)["nodes"][3]
    assert spans == {"id": 3, "name": "ü", "line": 2, "col": 4, "start": 17, "end": 18,
                     "role": "def"}


def test_broken_code_still_gives_a_graph():
    graph = data_flow("def f(a:\n    b = a +\n    return b\n", "python")
    assert [n.name for n in graph.nodes][:2] == ["f", "a"]


def test_deep_nesting_and_long_chains_stay_linear():
    chain = "def f(v):\n    " + " = ".join(f"a{i}" for i in range(800)) + " = v\n"
    graph = data_flow(chain, "python")  # nests 800 deep: past Python's default recursion limit
    assert len(graph.nodes) == 803
    assert len(graph.edges) == 801  # v -> v use, then the use -> each of the 800 targets
    nested = data_flow("x = " + "(" * 3000 + "y" + ")" * 3000 + "\n", "python")
    assert [(n.name, n.role) for n in nested.nodes] == [("x", "def"), ("y", "use")]


def codebleu_view(code: str) -> list[tuple]:
    """CodeBLEU's data-flow items: keep connected nodes, rename vars by first appearance."""
    items = data_flow(code, "python", literals=True).items()
    keep = {i for _, idx, _, _, parents in items if parents for i in (idx, *parents)}
    names: dict[str, str] = {}
    out = []
    for name, idx, relation, parent_names, _ in items:
        if idx not in keep:
            continue
        for p in parent_names:
            names.setdefault(p, f"var_{len(names)}")
        names.setdefault(name, f"var_{len(names)}")
        out.append((names[name], relation, [names[p] for p in parent_names]))
    return out


def test_codebleu_reference_snippets_give_graphcodebert_tuples():
    # REFERENCE.md's CodeBLEU examples; tuples as GraphCodeBERT's Python DFG gives them
    assert codebleu_view("def foo ( x ) :\n    return x") == [
        ("var_0", "comesFrom", []), ("var_0", "comesFrom", ["var_0"])]
    assert codebleu_view("def bar ( y , x ) :\n    a = x * x\n    return a") == [
        ("var_0", "comesFrom", []), ("var_1", "computedFrom", ["var_0", "var_0"]),
        ("var_0", "comesFrom", ["var_0"]), ("var_0", "comesFrom", ["var_0"]),
        ("var_1", "comesFrom", ["var_1"])]
    add = codebleu_view("def add ( a , b ) :\n return a + b")
    renamed = codebleu_view("def sum ( first , second ) :\n return second + first")
    assert sorted(add) == sorted(renamed)  # the reference data-flow match is 1.0
