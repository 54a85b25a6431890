"""Does a sample compile? Each language's own front end, run inside the sandbox.

A small Python driver runs in the sandbox, writes the candidate to a file in
its private work dir and calls the real tool there: `py_compile` (Python),
`node --check` (JavaScript), `gcc -fsyntax-only` / `g++ -fsyntax-only`
(C / C++), `javac` (Java). Compilers parse untrusted input, so they run
under the same isolation and limits as generated programs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from codelm.errors import ConfigError, InputError

_TOOLS = {
    "python": None,
    "javascript": ["node", "--check", "{file}"],
    "c": ["gcc", "-fsyntax-only", "-w", "-x", "c", "{file}"],
    "cpp": ["g++", "-fsyntax-only", "-w", "-x", "c++", "{file}"],
    "java": ["javac", "-J-Xshare:auto", "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-J-Xmx256m",
             "-nowarn", "-d", "out", "{file}"],
}
_FILES = {"python": "candidate.py", "javascript": "candidate.js", "c": "candidate.c", "cpp": "candidate.cpp"}
_ALIASES = {"js": "javascript", "py": "python", "c++": "cpp"}

_DRIVER = '''
import os, subprocess, sys
source = {source!r}
name = {name!r}
with open(name, "w", encoding="utf-8") as fh:
    fh.write(source)
argv = {argv!r}
if argv is None:
    import py_compile
    try:
        py_compile.compile(name, cfile="candidate.pyc", doraise=True)
    except py_compile.PyCompileError as exc:
        sys.stderr.write(exc.msg[-2000:])
        sys.exit(3)
    sys.exit(0)
os.makedirs("out", exist_ok=True)
proc = subprocess.run([a.replace("{{file}}", name) for a in argv], capture_output=True, text=True)
sys.stderr.write(proc.stderr[-2000:])
sys.exit(0 if proc.returncode == 0 else 3)
'''


@dataclass
class CompileResult:
    ok: bool
    status: str  # compiled | rejected | timeout | memory | sandbox_error | ...
    detail: str


def supported() -> list[str]:
    return sorted(_TOOLS)


def _driver(code: str, language: str) -> str:
    if language == "java":
        from codelm.eval.sandbox.languages import java_main_class

        try:
            _, name = java_main_class(code)
        except InputError:
            name = "Candidate.java"
    else:
        name = _FILES[language]
    argv = _TOOLS[language]
    if argv is not None:
        tool = shutil.which(argv[0])
        if tool is None:
            raise InputError(f"compile-rate for {language} needs '{argv[0]}' on PATH; install it")
        argv = [tool, *argv[1:]]
    return _DRIVER.format(source=code, name=name, argv=argv)


def compile_check(codes: list[str], language: str, sandbox=None, limits=None) -> list[CompileResult]:
    """Compile each code in the sandbox (a pool is started when none is given)."""
    from codelm.eval.sandbox import Limits, RunRequest, Sandbox

    language = _ALIASES.get(language.lower(), language.lower())
    if language not in _TOOLS:
        raise ConfigError(f"compile-rate supports {', '.join(supported())}, not '{language}'")
    limits = limits or Limits(timeout_s=60.0, memory_mb=2048, max_procs=128)
    requests = [RunRequest(_driver(code, language), "python", None, limits) for code in codes]
    owned = sandbox is None
    sb = Sandbox() if owned else sandbox
    try:
        raw = sb.map(requests)
    finally:
        if owned:
            sb.close()
    out = []
    for r in raw:
        if r.status == "passed":
            out.append(CompileResult(True, "compiled", ""))
        elif r.status in ("failed", "error") and r.exit_code == 3:
            out.append(CompileResult(False, "rejected", r.stderr.strip()[-500:]))
        else:
            out.append(CompileResult(False, r.status, (r.detail or r.stderr or "").strip()[-500:]))
    return out
