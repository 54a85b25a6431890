"""Identifier occurrences (definition vs use) and function/class extraction."""

from __future__ import annotations

from codelm.analysis import functions, identifiers


def marks(source: str, language: str) -> dict[str, str]:
    """name -> one letter per occurrence: D definition, u use."""
    return {name: "".join("D" if o.definition else "u" for o in occs)
            for name, occs in identifiers(source, language).items()}


def test_identifier_occurrences_exact():
    groups = identifiers("def f(a):\n    b = a\n    return b\n", "python")
    assert list(groups) == ["f", "a", "b"]
    assert [o.to_json() for o in groups["a"]] == [
        {"name": "a", "start": 6, "end": 7, "line": 1, "col": 6, "definition": True,
         "type": "identifier"},
        {"name": "a", "start": 18, "end": 19, "line": 2, "col": 8, "definition": False,
         "type": "identifier"}]


def test_definitions_across_languages():
    assert marks("import os.path\ndef f(a, b=1, *c, d: int = 2):\n    x, (y, z) = a, (b, c)\n"
                 "    self.v = x\n    for i in range(3): pass\n    return x\n", "python") == {
        "os": "D", "path": "u", "f": "D", "a": "Du", "b": "Du", "c": "Du", "d": "D", "int": "u",
        "x": "Duu", "y": "D", "z": "D", "self": "u", "v": "D", "i": "D", "range": "u"}
    assert marks("class A { int n; int f(int a) { int x = a; x = 2; this.n = x; "
                 "for (String s : l) {} return g(x); } }", "java") == {
        "A": "D", "n": "DD", "f": "D", "a": "Du", "x": "DDuu", "String": "u", "s": "D", "l": "u",
        "g": "u"}
    assert marks("function f(a, {b, c: d}, ...e) { let [x, y] = a; x = 1; this.q = 2; "
                 "for (const s of l) {} return g(x); }\nconst h = (u) => u;", "javascript") == {
        "f": "D", "a": "Du", "b": "D", "c": "u", "d": "D", "e": "D", "x": "DDu", "y": "D",
        "q": "D", "s": "D", "l": "u", "g": "u", "h": "D", "u": "Du"}
    assert marks("package m\nfunc f(a, b int) int { x, y := a, b; var z = 1; "
                 "for _, v := range l {}; s.f = 1; return x }", "go") == {
        "m": "u", "f": "DD", "a": "Du", "b": "Du", "int": "uu", "x": "Du", "y": "D", "z": "D",
        "_": "D", "v": "D", "l": "u", "s": "u"}
    assert marks("int f(int a, int *b) { int x = a, *y, z[3]; x = 1; p->q = 2; return x; }\n"
                 "struct S { int f; };", "c") == {
        "f": "DD", "a": "Du", "b": "D", "x": "DDu", "y": "D", "z": "D", "p": "u", "q": "D", "S": "D"}
    assert marks("class A { int F(int a) { var x = a; foreach (var s in l) {} "
                 "try {} catch (Exception e) {} return x; } }", "csharp") == {
        "A": "D", "F": "D", "a": "Du", "x": "Du", "s": "D", "l": "u", "Exception": "u", "e": "D"}
    assert marks("def f(a, b = 1, *c)\n  x, y = a, b\n  self.t = x\n  [1].each { |v| v }\nend",
                 "ruby") == {"f": "D", "a": "Du", "b": "Du", "c": "D", "x": "Du", "y": "D",
                             "t": "D", "each": "u", "v": "Du"}
    assert marks("<?php function f($a, $b = 1) { $x = $a; list($p, $q) = $a; "
                 "foreach ($l as $k => $v) {} return $x; }", "php") == {
        "f": "D", "$a": "Duu", "$b": "D", "$x": "Du", "$p": "D", "$q": "D", "$l": "u", "$k": "D",
        "$v": "D"}
    assert marks("fn f(a: i32, (b, c): (i32, i32)) -> i32 { let mut x = a; let (y, z) = (b, c); "
                 "x = 2; x }", "rust") == {
        "f": "D", "a": "Du", "b": "Du", "c": "Du", "x": "DDu", "y": "D", "z": "D"}
    assert marks("function f(a: number, b?: string): number { const x: number = a; return x; }",
                 "typescript") == {"f": "D", "a": "Du", "b": "D", "x": "Du"}
    assert marks("int A::f(int &a) { for (auto &e : v) {} return a; }", "cpp") == {
        "A": "u", "f": "D", "a": "Du", "e": "D", "v": "u"}


def summary(source: str, language: str) -> list[tuple]:
    return [(f.kind, f.qualname, f.signature, f.docstring, f.start_line, f.end_line)
            for f in functions(source, language)]


def test_python_functions_docstrings_decorators_nesting():
    source = ('# helper\n# two\n@dec\ndef f(a, b=1) -> int:\n    """Add.\n\n    More."""\n'
              "    return a\nclass C(B):\n    def m(self):\n        def inner(): pass\n")
    assert summary(source, "python") == [
        ("function", "f", "def f(a, b=1) -> int", "Add.\n\nMore.", 3, 8),
        ("class", "C", "class C(B)", None, 9, 11),
        ("method", "C.m", "def m(self)", None, 10, 11),
        ("function", "C.m.inner", "def inner()", None, 11, 11),
    ]
    f = functions(source, "python")[0]
    assert f.code.startswith("@dec\ndef f(") and f.body == '"""Add.\n\n    More."""\n    return a'
    start, end = f.docstring_span
    assert source[start:end] == '"""Add.\n\n    More."""'
    commented = functions("# Square it.\n# Twice.\ndef sq(x):\n    return x * x\n", "python")[0]
    assert commented.docstring == "Square it.\nTwice."


def test_functions_in_other_languages():
    assert summary("class A {\n  /**\n   * Adds.\n   * @param a x\n   */\n  @Override\n"
                   "  public int f(int a) { return a; }\n  A() {}\n}", "java") == [
        ("class", "A", "class A", None, 1, 9),
        ("method", "A.f", "@Override public int f(int a)", "Adds.\n@param a x", 6, 7),
        ("method", "A.A", "A()", None, 8, 8)]
    assert summary("// top\nexport function f(a) { return a; }\nconst g = (x) => x;\n"
                   "class C { /** m doc */\n m(z) { return z; } }", "javascript") == [
        ("function", "f", "function f(a)", "top", 2, 2),
        ("function", "g", "(x) =>", None, 3, 3),
        ("class", "C", "class C", None, 4, 5),
        ("method", "C.m", "m(z)", "m doc", 5, 5)]
    assert summary("package m\n// F does.\n// Really.\nfunc F(a int) int { return a }\n"
                   "func (s *S) M() {}\ntype S struct { x int }\ntype N int\n", "go") == [
        ("function", "F", "func F(a int) int", "F does.\nReally.", 4, 4),
        ("method", "S.M", "func (s *S) M()", None, 5, 5),
        ("class", "S", "S", None, 6, 6)]
    assert summary("/* add */\nint add(int a, int b) { return a + b; }\nstruct S { int x; };\n"
                   "struct S s;\nstatic char *name(void) { return 0; }", "c") == [
        ("function", "add", "int add(int a, int b)", "add", 2, 2),
        ("class", "S", "struct S", None, 3, 3),
        ("function", "name", "static char *name(void)", None, 5, 5)]
    assert summary("class K { public: int get() { return 1; } };\nint K::put(int v) { return v; }",
                   "cpp") == [("class", "K", "class K", None, 1, 1),
                              ("method", "K.get", "int get()", None, 1, 1),
                              ("method", "K.put", "int K::put(int v)", None, 2, 2)]
    assert summary("class A {\n  /// <summary>Does.</summary>\n  public int F(int a) { return a; }\n}",
                   "csharp") == [("class", "A", "class A", None, 1, 4),
                                 ("method", "A.F", "public int F(int a)", "<summary>Does.</summary>",
                                  3, 3)]
    assert summary("# greets\ndef hi(name)\n  puts name\nend\nclass C\n  def m; end\nend", "ruby") == [
        ("function", "hi", "def hi(name)", "greets", 2, 4),
        ("class", "C", "class C", None, 5, 7),
        ("method", "C.m", "def m", None, 6, 6)]
    assert summary("<?php\n/** Doc */\nfunction f($a) { return $a; }\n"
                   "class C { public function m() {} }", "php") == [
        ("function", "f", "function f($a)", "Doc", 3, 3),
        ("class", "C", "class C", None, 4, 4),
        ("method", "C.m", "public function m()", None, 4, 4)]
    assert summary("/// Adds\n#[inline]\nfn add(a: i32) -> i32 { a }\nstruct P { x: i32 }\n"
                   "impl P { fn get(&self) -> i32 { self.x } }", "rust") == [
        ("function", "add", "fn add(a: i32) -> i32", "Adds", 3, 3),
        ("class", "P", "struct P", None, 4, 4),
        ("method", "P.get", "fn get(&self) -> i32", None, 5, 5)]
    assert summary("interface I { x: number }\nfunction f(a: number): number { return a; }",
                   "typescript") == [("class", "I", "interface I", None, 1, 1),
                                     ("function", "f", "function f(a: number): number", None, 2, 2)]


def test_function_json_shape():
    info = functions("def f(x):\n    '''Doc.'''\n    return x\n", "python")[0]
    assert info.to_json() == {
        "name": "f", "qualname": "f", "kind": "function", "signature": "def f(x)",
        "docstring": "Doc.", "start_line": 1, "end_line": 3, "start": 0, "end": 37,
        "body": "'''Doc.'''\n    return x"}
