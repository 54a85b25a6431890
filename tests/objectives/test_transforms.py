"""Code transforms keep behaviour: original and transformed functions are executed and compared.

The functions below are written in the style of the standard library
(loops with break/continue/else, comprehensions, closures, generators,
exceptions, defaults, *args); we execute only these trusted snippets, never
standard-library files. A second test runs the transforms over real
standard-library functions and checks that every result still compiles.
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest

from codelm.objectives.base import make_rng
from codelm.objectives.transforms import TRANSFORMS, apply_transform, random_transforms

FUNCTIONS: dict[str, str] = {
    "mean_and_spread": '''
def mean_and_spread(values, default=0.0):
    """Mean and max - min of a sequence; `default` for an empty one."""
    if len(values) == 0:
        return default, default
    total = 0
    lo = hi = values[0]
    for v in values:
        total = total + v
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    return total / len(values), hi - lo
''',
    "find_first": '''
def find_first(items, target):
    index = 0
    while index < len(items):
        if items[index] == target:
            break
        index += 1
    else:
        return -1
    return index
''',
    "count_runs": '''
def count_runs(seq):
    runs = []
    current = None
    n = 0
    for x in seq:
        if x == current:
            n = n + 1
            continue
        if current is not None:
            runs.append((current, n))
        current, n = x, 1
    if current is not None:
        runs.append((current, n))
    return runs
''',
    "collatz_steps": '''
def collatz_steps(n, limit=1000):
    steps = 0
    while n != 1 and steps < limit:
        if n % 2 == 0:
            n = n // 2
        else:
            n = 3 * n + 1
        steps += 1
    return steps
''',
    "word_histogram": '''
def word_histogram(text, min_len=1):
    counts = {}
    for word in text.split():
        word = word.strip(".,;").lower()
        if len(word) < min_len:
            continue
        counts[word] = counts.get(word, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [w for w, c in ordered if c >= 1]
''',
    "matrix_multiply": '''
def matrix_multiply(a, b):
    rows, inner, cols = len(a), len(b), len(b[0])
    out = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        for j in range(cols):
            acc = 0
            for k in range(inner):
                acc += a[i][k] * b[k][j]
            out[i][j] = acc
    return out
''',
    "safe_divide_all": '''
def safe_divide_all(pairs, fallback=None):
    results = []
    for num, den in pairs:
        try:
            results.append(num / den)
        except ZeroDivisionError:
            results.append(fallback)
    return results
''',
    "make_counter": '''
def make_counter(start, step=1):
    state = [start]

    def bump(times):
        for _ in range(times):
            state[0] = state[0] + step
        return state[0]

    return [bump(t) for t in (1, 2, 3)]
''',
    "primes_below": '''
def primes_below(n):
    if n < 3:
        return []
    sieve = [True] * n
    sieve[0] = sieve[1] = False
    p = 2
    while p * p < n:
        if sieve[p]:
            for multiple in range(p * p, n, p):
                sieve[multiple] = False
        p += 1
    return [i for i, is_prime in enumerate(sieve) if is_prime]
''',
    "chunked": '''
def chunked(iterable, size):
    """Generator of lists of `size` items (the last may be shorter)."""
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
''',
    "clamp_all": '''
def clamp_all(values, low=0, high=10, *extra, scale=1):
    out = []
    for v in values:
        if v <= low:
            out.append(low * scale)
        elif v >= high:
            out.append(high * scale)
        else:
            out.append(v * scale + len(extra))
    return out
''',
    "binary_search": '''
def binary_search(sorted_items, key):
    lo, hi = 0, len(sorted_items)
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_items[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    if lo != len(sorted_items) and sorted_items[lo] == key:
        return lo
    return None
''',
    "flatten_dict": '''
def flatten_dict(d, prefix="", sep="."):
    flat = {}
    for key, value in sorted(d.items()):
        name = prefix + sep + key if prefix else key
        if isinstance(value, dict):
            flat.update(flatten_dict(value, name, sep))
        else:
            flat[name] = value
    return flat
''',
    "string_checksum": '''
def string_checksum(text, modulus=65521):
    a, b = 1, 0
    for ch in text:
        a = (a + ord(ch)) % modulus
        b = (b + a) % modulus
    return b * 65536 | a
''',
    "describe": '''
def describe(value):
    kind = "other"
    match value:
        case []:
            kind = "empty"
        case [x, *rest] if x < 3:
            kind = "small-first" + str(len(rest))
        case {"k": v}:
            kind = "map" + str(v + 1)
        case int(n) if n == 0:
            kind = "zero"
    return kind
''',
    "bits_set": '''
def bits_set(n):
    count = 0
    while n:
        n = n & (n - 1)
        count = count + 1
    return count ^ 0
''',
}


def inputs_for(name: str, rng: np.random.Generator):
    """Generated arguments for each fixture function (args, kwargs)."""
    ints = lambda k, lo=-20, hi=20: [int(x) for x in rng.integers(lo, hi, size=k)]  # noqa: E731
    words = ["alpha", "beta", "Gamma", "a", "beta.", "delta;", "gamma"]
    if name == "mean_and_spread":
        return (ints(int(rng.integers(0, 8))),), {}
    if name == "find_first":
        items = ints(int(rng.integers(0, 10)), 0, 5)
        return (items, int(rng.integers(0, 6))), {}
    if name == "count_runs":
        return (ints(int(rng.integers(0, 12)), 0, 3),), {}
    if name == "collatz_steps":
        return (int(rng.integers(1, 200)),), {}
    if name == "word_histogram":
        return (" ".join(rng.choice(words, size=int(rng.integers(0, 12))).tolist()),), {"min_len": int(rng.integers(1, 4))}
    if name == "matrix_multiply":
        r, k, c = (int(x) for x in rng.integers(1, 4, size=3))
        return ([ints(k) for _ in range(r)], [ints(c) for _ in range(k)]), {}
    if name == "safe_divide_all":
        return ([(a, b) for a, b in zip(ints(6), ints(6, -2, 3), strict=True)],), {"fallback": "x"}
    if name == "make_counter":
        return (int(rng.integers(-5, 5)),), {"step": int(rng.integers(1, 4))}
    if name == "primes_below":
        return (int(rng.integers(0, 80)),), {}
    if name == "chunked":
        return (ints(int(rng.integers(0, 10))), int(rng.integers(1, 4))), {}
    if name == "clamp_all":
        return (ints(8), -3, 7, *ints(int(rng.integers(0, 3)))), {"scale": int(rng.integers(1, 3))}
    if name == "binary_search":
        items = sorted(set(ints(10, 0, 30)))
        return (items, int(rng.integers(0, 30))), {}
    if name == "flatten_dict":
        return ({"a": 1, "b": {"c": int(rng.integers(9)), "d": {"e": 2}}, "f": [1]},), {"sep": "/"}
    if name == "string_checksum":
        return ("".join(rng.choice(list("abcxyz"), size=int(rng.integers(0, 20))).tolist()),), {}
    if name == "describe":
        options = [[], ints(3, 0, 6), {"k": int(rng.integers(5))}, 0, int(rng.integers(1, 9)), "s"]
        return (options[int(rng.integers(len(options)))],), {}
    if name == "bits_set":
        return (int(rng.integers(0, 1 << 20)),), {}
    raise KeyError(name)


def run(source: str, name: str, args, kwargs):
    namespace: dict = {}
    exec(compile(source, f"<{name}>", "exec"), namespace)  # trusted fixture code only
    try:
        result = namespace[name](*args, **kwargs)
        if hasattr(result, "__next__"):
            result = list(result)
        return "ok", result
    except Exception as exc:  # same exception type counts as the same behaviour
        return "error", type(exc).__name__


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_each_transform_keeps_behaviour_when_executed(transform):
    applied = 0
    for name, code in FUNCTIONS.items():
        code = textwrap.dedent(code).lstrip()
        for seed in range(4):
            new = apply_transform(transform, code, make_rng(seed, len(name)))
            if new is None:
                continue
            applied += 1
            assert new != code
            compile(new, name, "exec")
            rng = make_rng(100 + seed)
            for _ in range(25):
                args, kwargs = inputs_for(name, rng)
                assert run(new, name, args, kwargs) == run(code, name, args, kwargs), (transform, name, new)
    # every transform applies to most fixtures
    assert applied >= 0.6 * 4 * len(FUNCTIONS)


def test_composed_transforms_keep_behaviour():
    for name, code in FUNCTIONS.items():
        code = textwrap.dedent(code).lstrip()
        new, applied = random_transforms(code, make_rng(7, len(name)), rate=0.9)
        assert applied and new != code
        rng = make_rng(3)
        for _ in range(25):
            args, kwargs = inputs_for(name, rng)
            assert run(new, name, args, kwargs) == run(code, name, args, kwargs), (applied, new)


def test_transform_examples():
    code = "def f(a, b):\n    if a < b:\n        return a + 1\n    return b\n"
    assert apply_transform("operand_swap", code, make_rng(0)) in (
        "def f(a, b):\n    if b > a:\n        return a + 1\n    return b\n",
        "def f(a, b):\n    if a < b:\n        return 1 + a\n    return b\n",
        "def f(a, b):\n    if b > a:\n        return 1 + a\n    return b\n",
    )
    loop = "def g(xs):\n    t = 0\n    for x in xs:\n        t += x\n    return t\n"
    out = apply_transform("loop_exchange", loop, make_rng(0))
    assert "while True:" in out and "next(" in out and "StopIteration" in out and "for x in" not in out
    renamed = apply_transform("rename", loop, make_rng(0))
    match = re.fullmatch(r"def g\(xs\):\n    (\w+) = 0\n    for (\w+) in xs:\n        \1 \+= \2\n    return \1\n", renamed)
    assert match and len({match[1], match[2], "t", "x", "xs"}) == 5  # locals renamed, the parameter kept
    # keyword arguments name the callee's parameters: those names stay
    kw = "def h(a):\n    key = a\n    return dict(key=key)\n"
    assert apply_transform("rename", kw, make_rng(0)) is None
    # guards: global declarations, dynamic scope access, non-Python code
    assert apply_transform("rename", "def k():\n    global z\n    z = 1\n", make_rng(0)) is None
    assert apply_transform("rename", "def k(a):\n    return locals()\n", make_rng(0)) is None
    assert apply_transform("rename", "int f(int a) { return a; }", make_rng(0), "java") is None
    # dead code never goes above the docstring
    doc = 'def d(x):\n    """Doc."""\n    return x\n'
    for seed in range(10):
        out = apply_transform("dead_code", doc, make_rng(seed))
        assert out.startswith('def d(x):\n    """Doc."""\n')


@pytest.mark.slow
def test_transforms_of_stdlib_functions_still_compile(stdlib_docs):
    """Every transform of 600 real standard-library functions is valid Python."""
    from codelm.objectives.contrastive import function_views

    checked = 0
    applied = dict.fromkeys(TRANSFORMS, 0)
    for doc in stdlib_docs[::12]:
        for fn in function_views(doc["content"], "python")[:8]:
            code = fn.code
            try:
                compile(code, "orig", "exec")
            except SyntaxError:
                continue
            checked += 1
            for t in TRANSFORMS:
                new = apply_transform(t, code, make_rng(checked))
                if new is not None:
                    applied[t] += 1
                    compile(new, t, "exec")
        if checked >= 600:
            break
    assert checked >= 600
    # how often each applies to real code (loops and literal comparisons are rarer than locals)
    minimum = {"rename": 150, "dead_code": 500, "loop_exchange": 50, "operand_swap": 80}
    assert all(applied[t] >= minimum[t] for t in TRANSFORMS), applied
