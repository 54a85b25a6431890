"""JavaScript, C, C++ and Java run through the same sandbox and limits."""

from __future__ import annotations

import shutil

import pytest

from codelm.eval.sandbox import GradeRequest, Limits, RunRequest
from codelm.eval.sandbox.languages import get_language, java_main_class, language_for_file

pytestmark = pytest.mark.timeout(120)

QUICK = Limits(timeout_s=1.0, memory_mb=256, max_procs=32)
JVM = Limits(timeout_s=10.0, memory_mb=512, max_procs=64)


def test_toolchains_are_installed():
    for tool in ("node", "gcc", "g++", "javac", "java"):
        assert shutil.which(tool), tool


def test_language_names_and_files():
    assert [get_language(n).name for n in ("py", "JS", "node", "c", "c++", "cxx", "java")] == \
        ["python", "javascript", "javascript", "c", "cpp", "cpp", "java"]
    assert [language_for_file(f) for f in ("a.py", "b.js", "c.c", "d.cpp", "E.java", "f")] == \
        ["python", "javascript", "c", "cpp", "java", "python"]
    assert java_main_class("import java.util.*;\nclass Helper {}\nclass Problem {\n"
                           "  public static void main(String[] a) {}\n}\n") == ("Problem", "Problem.java")
    assert java_main_class("public class Main { public static void main(String[] a) {} }") == ("Main", "Main.java")


CASES = [
    ("javascript", "console.log(6 * 7)", "passed", None, "42\n"),
    ("javascript", "throw new TypeError('bad')", "error", "TypeError", ""),
    ("javascript", "require('assert').deepStrictEqual([1], [2])", "failed", "AssertionError", ""),
    ("javascript", "let x = ;", "syntax", "SyntaxError", ""),
    ("javascript", "while (true) {}", "timeout", None, ""),
    ("c", '#include <stdio.h>\nint main(void) { printf("%d\\n", 6 * 7); return 0; }', "passed", None, "42\n"),
    ("c", "int main(void) { return 3; }", "failed", None, ""),
    ("c", "#include <assert.h>\nint main(void) { assert(1 == 2); return 0; }", "failed", None, ""),
    ("c", "int main(void) { volatile unsigned long i = 0; for (;;) i++; }", "timeout", None, ""),
    ("c", "#include <unistd.h>\nint main(void) { for (;;) fork(); }", "timeout", None, ""),
    ("c", "#include <stdlib.h>\n#include <string.h>\nint main(void) { for (;;) { char *p = malloc(1 << 24);"
          " if (p) memset(p, 1, 1 << 24); } }", "memory", None, ""),
    ("c", "int main( {", "syntax", None, ""),
    ("cpp", "#include <iostream>\n#include <vector>\nint main() { std::vector<int> v{1, 2, 3};"
            " std::cout << v.size() << std::endl; }", "passed", None, "3\n"),
    ("cpp", "#include <stdexcept>\nint main() { throw std::runtime_error(\"x\"); }", "error",
     "std::runtime_error", ""),
]


def test_programs_in_other_languages(sandbox, clean):
    results = sandbox.map([RunRequest(code, lang, limits=QUICK) for lang, code, *_ in CASES])
    got = [(r.status, r.error_type, r.stdout) for r in results]
    assert got == [(status, etype, out) for *_, status, etype, out in CASES], [r.stderr[-200:] for r in results]
    assert "error:" in results[-3].stderr  # the compiler's message reaches the user
    clean(sandbox)


def test_java_runs_and_fails_assertions(sandbox):
    hello = "public class Main { public static void main(String[] a) { System.out.println(\"hi\"); } }"
    bad = "class Problem { public static void main(String[] a) { assert 1 == 2; } }"
    r_ok, r_bad = sandbox.map([RunRequest(hello, "java", limits=JVM), RunRequest(bad, "java", limits=JVM)])
    assert (r_ok.status, r_ok.stdout) == ("passed", "hi\n")
    assert (r_bad.status, r_bad.error_type) == ("failed", "AssertionError")


def test_multipl_e_style_grading_catches_early_exit(sandbox):
    js_test = "const assert = require('node:assert');\nassert.deepEqual(add(1, 2), 3);\n"
    c_test = "#include <assert.h>\nint main(void) { assert(add(1, 2) == 3); return 0; }\n"
    java_test = "  public static void main(String[] args) { assert add(1, 2) == 3; }\n}\n"
    requests = [
        GradeRequest("function add(a, b) { return a + b; }", js_test, language="javascript", limits=QUICK),
        GradeRequest("function add(a, b) { process.exit(0); }", js_test, language="javascript", limits=QUICK),
        GradeRequest("function add(a, b) { return a - b; }", js_test, language="javascript", limits=QUICK),
        GradeRequest("int add(int a, int b) { return a + b; }", c_test, language="c", limits=QUICK),
        GradeRequest("#include <stdlib.h>\nint add(int a, int b) { exit(0); }", c_test, language="c", limits=QUICK),
        GradeRequest("class Problem {\n  static int add(int a, int b) { return a + b; }\n", java_test,
                     language="java", limits=JVM),
        GradeRequest("class Problem {\n  static int add(int a, int b) { System.exit(0); return 0; }\n", java_test,
                     language="java", limits=JVM),
    ]
    results = sandbox.grade_many(requests)
    assert [r.status for r in results] == ["passed", "failed", "failed", "passed", "failed", "passed", "failed"]
    assert results[1].detail == "the program ended before its tests finished (no completion marker)"
    assert all("CODELM-DONE" not in r.stdout for r in results)


def test_python_runs_like_python_main_py(sandbox):
    cases = [
        RunRequest("print(input()[::-1])", stdin="abc\n"),
        RunRequest("import sys\nsys.exit(5)"),
        RunRequest("raise SystemExit('bye')"),
        RunRequest("import atexit, threading, time\natexit.register(lambda: print('atexit'))\n"
                   "threading.Thread(target=lambda: (time.sleep(0.05), print('thread'))).start()\nprint('main')"),
        RunRequest("import random\nprint(random.random() != 0.8444218515250481)"),
        RunRequest("import sys\nprint(__name__, sys.argv, __file__)"),
        RunRequest("def f(:\n    pass"),
        RunRequest("import nonexistent_module_xyz"),
    ]
    r = sandbox.map(cases)
    assert (r[0].status, r[0].stdout) == ("passed", "cba\n")
    assert (r[1].status, r[1].exit_code) == ("failed", 5)
    assert (r[2].status, r[2].exit_code, r[2].stderr) == ("failed", 1, "bye\n")
    assert (r[3].status, r[3].stdout) == ("passed", "main\nthread\natexit\n")
    assert r[4].stdout == "True\n"  # every run is reseeded, not a copy of the zygote's state
    assert r[5].stdout == "__main__ ['/sandbox/main.py'] /sandbox/main.py\n"
    assert (r[6].status, r[6].error_type) == ("syntax", "SyntaxError")
    assert (r[7].status, r[7].error_type) == ("error", "ModuleNotFoundError")
    assert r[7].stderr.startswith('Traceback (most recent call last):\n  File "/sandbox/main.py", line 1')
