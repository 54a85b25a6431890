"""Cheat-proof grading of Python programs against assert-style tests.

Peers exec the program and its tests in one interpreter and count "no
exception" as a pass, so `sys.exit(0)`, `atexit` hooks, a replaced
`sys.excepthook`, an always-equal object or a patched builtin all pass
(REFERENCE.md "Sandboxing untrusted code"). Here the verdict never comes from
the program's process, and only strictly typed plain data leaves it.

**Direct mode** (most HumanEval and MBPP tests): every statement of the test
is an assert whose calls to the function under test take literal arguments
(`assert candidate([1, 2]) == 3`, `assert abs(candidate(2.0) - 1.5) < 1e-6`).
The sandbox receives only the program and the list of argument tuples; it
returns the encoded result of each call. The host then evaluates each assert
expression itself, with the results substituted, using a small set of pure
builtins and `math`. Expected values never enter the sandbox, and the
program's process is forked straight from the clean zygote: one fork per run.

**Split mode** (the fallback, for any other test shape) uses three processes:

* **program process** (inside the sandbox) loads the program and answers
  call requests; every value it returns is encoded as strictly typed plain
  data (`_runtime.encode_value`); other objects stay behind opaque handles.
* **tester process** (inside the sandbox, never runs program code) runs the
  test code with the program's functions replaced by stubs that call across.
  The program is forked *before* the tester receives the tests or the nonce.
* **host** (here): every assertion of the form `assert <expr> OP <literal>`
  at the top level of `check` (HumanEval) or of the test module (MBPP) is cut
  out of the test before it is sent: the tester only computes `<expr>` and
  reports its encoded value; the literal never enters the sandbox and the
  comparison happens here. Missing or extra rows are failures.

Split-mode guarantees: asserts of any other shape (in loops, against computed
values) run inside the tester process. They still compare only plain data
the program returned (objects are refused), in a process the program cannot
reach, so the cheats above fail there too; what they do not hide is the
test's own source from a program that could somehow read the tester's memory.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import math
import operator
import types
from dataclasses import dataclass
from typing import Any

from codelm.eval.sandbox import _runtime as rt

_OPS = {
    ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne), ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le), ast.Gt: (">", operator.gt), ast.GtE: (">=", operator.ge),
    ast.In: ("in", lambda a, b: a in b), ast.NotIn: ("not in", lambda a, b: a not in b),
    ast.Is: ("is", operator.is_), ast.IsNot: ("is not", operator.is_not),
}
_BUILTINS = frozenset(dir(builtins))


class TestCodeError(ValueError):
    """The test code itself is unusable (reported as sandbox_error, never the program's fault)."""


@dataclass(frozen=True)
class Check:
    """One assertion decided on the host."""

    index: int
    kind: str  # "compare" | "truthy" | "falsy"
    op: str | None
    literal: Any
    probe_left: bool
    line: int
    source: str

    def evaluate(self, value: Any) -> bool:
        if self.kind == "truthy":
            return bool(value)
        if self.kind == "falsy":
            return not value
        fn = next(f for sym, f in _OPS.values() if sym == self.op)
        return bool(fn(value, self.literal) if self.probe_left else fn(self.literal, value))


@dataclass(frozen=True)
class TestPlan:
    driver: str  # the test with host-side asserts replaced by `__probe__(k, expr)`
    stubs: tuple[str, ...]  # names the tests use that the program defines
    call: str | None  # `check` for HumanEval-shaped tests
    entry: str | None
    checks: tuple[Check, ...]
    prelude: str | None  # trusted code (the prompt) run in the tester before the tests


_SAFE_BUILTINS = {name: getattr(builtins, name) for name in (
    "abs", "all", "any", "bool", "chr", "complex", "dict", "divmod", "enumerate", "filter", "float",
    "frozenset", "int", "isinstance", "len", "list", "map", "max", "min", "ord", "pow", "range",
    "repr", "reversed", "round", "set", "sorted", "str", "sum", "tuple", "type", "zip",
)}
_SAFE_MODULES = {"math": math}


@dataclass(frozen=True)
class DirectCheck:
    """One assert evaluated on the host; `calls` index the program's results it needs."""

    line: int
    source: str
    code: types.CodeType
    calls: tuple[int, ...]


@dataclass(frozen=True)
class DirectPlan:
    entry: str
    calls: tuple  # per call: (encoded args, encoded kwargs), JSON-ready
    checks: tuple[DirectCheck, ...]
    env: tuple  # host-side names: (name, value) of literal constants and safe modules


class _Direct(ast.NodeTransformer):
    """Replace calls of the function under test by placeholders `__vK__`."""

    def __init__(self, names: set[str], calls: list, consts: dict) -> None:
        self.names = names
        self.consts = consts
        self.calls = calls
        self.used: list[int] = []
        self.ok = True

    def visit_Call(self, node: ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id in self.names:
            args, kwargs = [], {}
            for a in node.args:
                is_lit, value = self._value(a)
                if not is_lit or isinstance(a, ast.Starred):
                    self.ok = False
                    return node
                args.append(value)
            for kw in node.keywords:
                is_lit, value = self._value(kw.value)
                if kw.arg is None or not is_lit:
                    self.ok = False
                    return node
                kwargs[kw.arg] = value
            try:
                encoded = (rt.encode_value(args), rt.encode_value(kwargs))
            except rt.Unsupported:
                self.ok = False
                return node
            index = len(self.calls)
            self.calls.append(encoded)
            self.used.append(index)
            return ast.copy_location(ast.Name(id=f"__v{index}__", ctx=ast.Load()), node)
        return self.generic_visit(node)

    def _value(self, node: ast.AST) -> tuple[bool, Any]:
        if isinstance(node, ast.Name) and node.id in self.consts:
            return True, copy.deepcopy(self.consts[node.id])
        return _literal(node)


def _host_evaluable(expr: ast.AST, env: dict) -> bool:
    """Only placeholders, host constants, pure builtins and `math.<name>` remain."""
    bound = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for node in ast.walk(expr):
        if isinstance(node, ast.NamedExpr | ast.Yield | ast.YieldFrom | ast.Await | ast.Lambda):
            return False
        if isinstance(node, ast.Attribute):
            if not (isinstance(node.value, ast.Name) and isinstance(env.get(node.value.id), types.ModuleType)
                    and not node.attr.startswith("_")):
                return False
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            name = node.id
            if not (name.startswith("__v") or name in env or name in _SAFE_BUILTINS or name in bound):
                return False
    return True


def _bind_import(stmt: ast.stmt, env: dict) -> bool:
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.name not in _SAFE_MODULES:
                return False
            env[alias.asname or alias.name] = _SAFE_MODULES[alias.name]
        return True
    if isinstance(stmt, ast.ImportFrom) and stmt.module in _SAFE_MODULES and stmt.level == 0:
        module = _SAFE_MODULES[stmt.module]
        for alias in stmt.names:
            if alias.name == "*" or alias.name.startswith("_") or not hasattr(module, alias.name):
                return False
            env[alias.asname or alias.name] = getattr(module, alias.name)
        return True
    return False


@functools.lru_cache(maxsize=4096)
def plan_direct(test: str, entry_point: str | None) -> DirectPlan | None:
    """A direct plan if every statement of the test allows one, else None (use split mode)."""
    if not entry_point:
        return None
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return None
    env: dict = {}
    asserts: list[tuple[ast.Assert, set[str]]] = []

    def scan(body: list[ast.stmt], names: set[str]) -> bool:
        for stmt in body:
            if isinstance(stmt, ast.Assert):
                asserts.append((stmt, names))
            elif isinstance(stmt, ast.Import | ast.ImportFrom):
                if not _bind_import(stmt, env):
                    return False
            elif isinstance(stmt, ast.Pass) or (
                    isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
                continue
            else:
                return False
        return True

    module_body = []
    check = None
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "check":
            args = stmt.args
            if check is not None or stmt.decorator_list or len(args.args) != 1 or args.vararg or \
                    args.kwarg or args.kwonlyargs or args.posonlyargs or args.defaults:
                return None
            check = stmt
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
                and _literal(stmt.value)[0]:
            env[stmt.targets[0].id] = _literal(stmt.value)[1]
        else:
            module_body.append(stmt)
    if not scan(module_body, {entry_point}):
        return None
    if check is not None and not scan(check.body, {check.args.args[0].arg, entry_point}):
        return None
    calls: list = []
    checks: list[DirectCheck] = []
    for stmt, names in asserts:
        consts = {k: v for k, v in env.items() if not isinstance(v, types.ModuleType | types.BuiltinFunctionType)}
        tr = _Direct(names, calls, consts)
        expr = tr.visit(ast.parse(ast.unparse(stmt.test), mode="eval").body)
        if not tr.ok or not _host_evaluable(expr, env):
            return None
        code = compile(ast.fix_missing_locations(ast.Expression(expr)), f"<test line {stmt.lineno}>", "eval")
        checks.append(DirectCheck(stmt.lineno, (ast.get_source_segment(test, stmt) or "")[:300],
                                  code, tuple(tr.used)))
    return DirectPlan(entry_point, tuple(calls), tuple(checks), tuple(env.items()))


def judge_direct(plan: DirectPlan, frames: list, done: dict | None) -> tuple[str, str | None, str | None]:
    """(status, detail, error_type) from the streamed results and the host-side asserts."""
    if not frames or "load" not in frames[0]:
        return _ended(done, "the program produced no result")
    load = frames[0]
    kind = load.get("load")
    if kind == "syntax":
        return "syntax", str(load.get("detail")), str(load.get("type"))
    if kind == "error":
        etype = str(load.get("type"))
        status = "memory" if etype == "MemoryError" else ("failed" if etype == "AssertionError" else "error")
        return status, f"while loading the program: {load.get('detail')}", etype
    if kind != "ok":
        return "failed", str(load.get("detail")), None
    values: dict[int, Any] = {}
    raised = None
    for frame in frames[1:]:
        if frame.get("end"):
            break
        i = frame.get("i")
        if i != len(values) or i >= len(plan.calls):
            return "failed", "the program wrote results out of order", None
        if "exc" in frame:
            raised = (i, str(frame["exc"]), str(frame.get("msg", ""))[:300])
            break
        try:
            values[i] = rt.decode_value(frame.get("value"), lambda _ref, name: _Opaque(name))
        except rt.ProtocolError as exc:
            return "failed", f"the program wrote a malformed result: {exc}", None
    env = dict(plan.env)
    for check in plan.checks:
        missing = [c for c in check.calls if c not in values]
        if missing:
            if raised is not None and raised[0] in missing:
                etype = raised[1]
                status = "memory" if etype == "MemoryError" else "error"
                return status, f"line {check.line}: {etype}: {raised[2]}", etype
            return _ended(done, f"the program ended before the test at line {check.line} ran")
        for c in check.calls:
            opaque = _opaque_inside(values[c])
            if opaque is not None:
                # Not decidable here; the caller regrades in split mode.
                return "opaque", f"line {check.line}: the program returned a {opaque} object", None
        scope = {"__builtins__": _SAFE_BUILTINS, **env, **{f"__v{c}__": values[c] for c in check.calls}}
        try:
            ok = eval(check.code, scope)  # trusted test expression over plain data, on the host
        except Exception as exc:  # what the same assert would have raised in Python
            return "error", f"line {check.line}: {type(exc).__name__}: {exc}", type(exc).__name__
        if not ok:
            got = ", ".join(_short(values[c]) for c in check.calls)
            return "failed", f"line {check.line}: assert failed (program returned {got or 'nothing'})", None
    return "passed", None, None


def _ended(done: dict | None, detail: str) -> tuple[str, str | None, str | None]:
    done = done or {}
    if done.get("timed_out"):
        return "timeout", "time limit reached", None
    if done.get("signal") is not None:
        return "killed", f"{detail} (signal {done['signal']})", None
    code = done.get("exit_code")
    return "failed", f"{detail} (exit code {code})" if code is not None else detail, None


class _Opaque:
    """Stands for an object the program kept behind a handle."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name} object>"


def _bound_names(tree: ast.AST) -> set[str]:
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif (isinstance(node, ast.ExceptHandler) and node.name) or (isinstance(node, ast.MatchAs | ast.MatchStar) and node.name):
            bound.add(node.name)
    return bound


def _loaded_names(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _contains_return(node: ast.AST) -> bool:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Return):
            return True
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef) and n is not node:
            continue
        stack.extend(ast.iter_child_nodes(n))
    return False


def _check_for(node: ast.Assert) -> tuple[str, str | None, Any, bool, ast.expr] | None:
    """(kind, op, literal, probe_left, probe) if the host can decide this assert."""
    test = node.test
    if any(isinstance(n, ast.NamedExpr | ast.Yield | ast.YieldFrom | ast.Await) for n in ast.walk(test)):
        return None
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op_type = type(test.ops[0])
        left, right = test.left, test.comparators[0]
        left_lit, lval = _literal(left)
        right_lit, rval = _literal(right)
        if left_lit == right_lit:
            return None
        literal, probe, probe_left = (rval, left, True) if right_lit else (lval, right, False)
        if op_type in (ast.Is, ast.IsNot) and type(literal) not in (type(None), bool):
            return None
        return "compare", _OPS[op_type][0], literal, probe_left, probe
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        if _literal(test.operand)[0]:
            return None
        return "falsy", None, None, True, test.operand
    if _literal(test)[0]:
        return None
    return "truthy", None, None, True, test


def _replaceable(lines: list[str], node: ast.stmt) -> bool:
    """The assert occupies whole lines (nothing else shares them)."""
    first, last = lines[node.lineno - 1], lines[node.end_lineno - 1]
    if first[: node.col_offset].strip():
        return False
    rest = last[node.end_col_offset :].strip()
    return not rest or rest.startswith("#")


def _usable_prelude(prelude: str | None) -> tuple[str | None, ast.Module | None]:
    """The prompt as trusted code: as is, or with a body added to its last, open `def`."""
    if not prelude:
        return None, None
    for text in (prelude, prelude.rstrip() + "\n    pass\n"):
        try:
            return text, ast.parse(text)
        except SyntaxError:
            continue
    return None, None  # an unparseable prompt is simply not used


@functools.lru_cache(maxsize=4096)
def plan_test(test: str, entry_point: str | None, prelude: str | None = None) -> TestPlan:
    """Split a test into host-side checks and the driver sent to the sandbox (cached)."""
    try:
        tree = ast.parse(test)
    except SyntaxError as exc:
        raise TestCodeError(f"the test code does not parse: {exc.msg} (line {exc.lineno})") from None
    prelude, prelude_tree = _usable_prelude(prelude)
    has_check = any(isinstance(n, ast.FunctionDef) and n.name == "check" for n in tree.body)
    call = "check" if has_check and entry_point else None
    if has_check and not entry_point:
        raise TestCodeError("the test defines check(candidate) but no entry_point was given")

    # Which statements hold host-decidable asserts: check's top level, else the module's.
    body = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check").body \
        if call else tree.body
    candidates: list[ast.Assert] = []
    for stmt in body:
        if _contains_return(stmt):
            break  # later statements may legitimately not run
        if isinstance(stmt, ast.Assert):
            candidates.append(stmt)

    lines = test.splitlines(keepends=True)
    checks: list[Check] = []
    edits: list[tuple[int, int, str]] = []
    for stmt in candidates:
        found = _check_for(stmt)
        if found is None or not _replaceable(lines, stmt):
            continue
        kind, op, literal, probe_left, probe = found
        segment = ast.get_source_segment(test, probe)
        if segment is None:
            continue
        k = len(checks)
        checks.append(Check(k, kind, op, literal, probe_left, stmt.lineno,
                            (ast.get_source_segment(test, stmt) or "")[:300]))
        span = stmt.end_lineno - stmt.lineno
        text = " " * stmt.col_offset + f"__probe__({k}, ({segment}))"
        text += "\n" * (span - segment.count("\n")) + "\n"
        edits.append((stmt.lineno - 1, stmt.end_lineno, text))
    for start, end, text in reversed(edits):
        lines[start:end] = [text]
    driver = "".join(lines)

    defined = _bound_names(tree) | (_bound_names(prelude_tree) if prelude_tree is not None else set())
    free = (_loaded_names(tree) - defined - _BUILTINS) - {"__probe__"}
    if entry_point:
        free.add(entry_point)  # the program's version always wins over the prompt's stub body
    return TestPlan(driver, tuple(sorted(free)), call, entry_point, tuple(checks), prelude)


def _opaque_inside(value: Any) -> str | None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, _Opaque):
            return v.type_name
        if isinstance(v, list | tuple | set | frozenset):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def judge(plan: TestPlan, frame: dict) -> tuple[str, str | None, str | None]:
    """(status, detail, error_type) from the tester's result frame and the host checks."""
    rows = frame.get("rows") or []
    if not isinstance(rows, list):
        return "sandbox_error", "the tester sent malformed rows", None
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == 2 and row[0] == i and i < len(plan.checks)):
            return "sandbox_error", f"the tester sent an unexpected row {i}", None
        check = plan.checks[i]
        try:
            value = rt.decode_value(row[1], lambda _ref, name: _Opaque(name))
        except rt.ProtocolError as exc:
            return "sandbox_error", f"check {i}: {exc}", None
        opaque = _opaque_inside(value)
        if opaque is not None:
            return ("failed", f"line {check.line}: the program returned a {opaque} object, "
                    "not plain data, so equality with it is not trusted", None)
        try:
            ok = check.evaluate(value)
        except Exception as exc:  # what the same assert would have raised in Python
            return "error", f"line {check.line}: {type(exc).__name__}: {exc}", type(exc).__name__
        if not ok:
            if check.kind == "compare":
                expected = f"{check.op} {_short(check.literal)}"
            else:
                expected = "a true value" if check.kind == "truthy" else "a false value"
            return "failed", f"line {check.line}: got {_short(value)}, expected {expected}", None
    status = frame.get("status")
    if status == "passed" and len(rows) != len(plan.checks):
        return "sandbox_error", f"{len(plan.checks) - len(rows)} checks never reported", None
    return str(status), frame.get("detail"), frame.get("error_type")
