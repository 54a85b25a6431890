"""Languages other than Python: how to build, run and judge a program.

Python runs in a forked warm interpreter (see `_runtime.py`); every other
language is compiled (if needed) and executed *inside* the same sandbox with
the same limits: compilers parse untrusted input too. Toolchains come from
the host's /usr (read-only).

Grading a non-Python program (MultiPL-E style: program + test code form one
executable whose asserts exit non-zero) relies on a per-run nonce printed by
a wrapper only after the program's own `main` returned normally, so
`exit(0)` / `process.exit(0)` / `System.exit(0)` before the tests finish is a
failure. Unlike Python grading this is in-process: code that reads its own
source or binary can learn the nonce (documented in docs/sandbox.md).
"""

from __future__ import annotations

import abc
import os
import re
import shutil
from dataclasses import dataclass

from codelm.errors import InputError
from codelm.registry import Registry

_ALIASES = {"py": "python", "python3": "python", "js": "javascript", "node": "javascript",
            "c++": "cpp", "cxx": "cpp", "cc": "cpp"}


@dataclass(frozen=True)
class Build:
    files: dict[str, str]
    compile: list[str] | None
    run: list[str]
    env: dict[str, str]
    as_overhead_mb: int | None  # address-space allowance beyond memory_mb (rlimit memory mode); None = no AS limit


class Language:
    """A language the sandbox runs; `forked` ones run in the warm interpreter itself."""

    name = ""
    tools: tuple[str, ...] = ()
    forked = False

    def check_tools(self) -> dict[str, str]:
        found = {}
        for tool in self.tools:
            path = shutil.which(tool)
            if path is None:
                raise InputError(f"language '{self.name}' needs '{tool}' on PATH; install it (e.g. apt-get install {tool})")
            found[tool] = os.path.realpath(path)
        return found

    def classify(self, status: str, stderr: str) -> tuple[str, str | None]:
        """Refine a generic status using the runtime's own diagnostics."""
        return status, None


def _exception_type(stderr: str, pattern: re.Pattern) -> str | None:
    m = pattern.search(stderr)
    return m.group(1) if m else None


class Python(Language):
    name = "python"
    forked = True


class ExecLanguage(Language, abc.ABC):
    """A language whose programs are written to files, compiled if needed and exec'd."""

    @abc.abstractmethod
    def build(self, code: str, memory_mb: int, env: dict[str, str], marker: str | None) -> Build:
        """Files, compile and run commands for `code`; `marker` (grading) wraps its end."""


class JavaScript(ExecLanguage):
    name = "javascript"
    tools = ("node",)
    _error = re.compile(r"^(?:Uncaught )?([A-Za-z_$][\w$]*(?:Error|Exception))\b", re.M)

    def build(self, code, memory_mb, env, marker):
        node = self.check_tools()["node"]
        if marker is not None:
            code += f"\n;process.stdout.write('\\n{marker}\\n');\n"
        heap = max(16, memory_mb * 3 // 4)
        return Build({"main.js": code}, None, [node, f"--max-old-space-size={heap}", "main.js"], env,
                     as_overhead_mb=2048)

    def classify(self, status, stderr):
        if "heap out of memory" in stderr or "Allocation failed" in stderr:
            return "memory", "RangeError"
        if status not in ("failed", "killed"):
            return status, None
        etype = _exception_type(stderr, self._error)
        if etype is None:
            return status, None
        if etype == "SyntaxError":
            return "syntax", etype
        if etype == "AssertionError":
            return "failed", etype
        return "error", etype


_C_ASSERT = re.compile(r"Assertion `.*' failed|assertion .* failed", re.I)
_CPP_THROW = re.compile(r"terminate called after throwing an instance of '([^']+)'")


def _c_wrapper(marker: str, with_args: bool, cpp: bool) -> str:
    # The program's (renamed) main is defined above, so its own prototype is in scope.
    call = "codelm_user_main(argc, argv)" if with_args else "codelm_user_main()"
    head = "#include <cstdio>" if cpp else "#include <stdio.h>"
    return (f"\n#undef main\n{head}\n"
            f"int main(int argc, char **argv) {{ (void)argc; (void)argv; int r = {call}; fflush(stdout);\n"
            f"  if (r == 0) {{ fputs(\"\\n{marker}\\n\", stdout); fflush(stdout); }} return r; }}\n")


class C(ExecLanguage):
    name = "c"
    tools = ("gcc",)
    source = "main.c"
    std = "-std=gnu11"
    cpp = False

    def build(self, code, memory_mb, env, marker):
        compiler = self.check_tools()[self.tools[0]]
        flags = [self.std, "-O1", "-w"]
        if marker is not None:
            with_args = re.search(r"\bmain\s*\(\s*int\b", code) is not None
            code += _c_wrapper(marker, with_args, self.cpp)
            flags.append("-Dmain=codelm_user_main")
        argv = [compiler, *flags, "-o", "main", self.source, "-lm"]
        return Build({self.source: code}, argv, ["./main"], env, as_overhead_mb=64)

    def classify(self, status, stderr):
        if "std::bad_alloc" in stderr:
            return "memory", "std::bad_alloc"
        thrown = _CPP_THROW.search(stderr)
        if thrown and status in ("failed", "killed"):
            return "error", thrown.group(1)
        if status == "killed" and _C_ASSERT.search(stderr):
            return "failed", None
        return status, None


class Cpp(C):
    name = "cpp"
    tools = ("g++",)
    source = "main.cpp"
    std = "-std=gnu++17"
    cpp = True


_JAVA_MAIN = re.compile(r"\bstatic\s+(?:public\s+)?void\s+main\s*\(")
_JAVA_CLASS = re.compile(r"\b(public\s+)?(?:final\s+|abstract\s+)*class\s+([A-Za-z_]\w*)")
_JAVA_EXC = re.compile(r'Exception in thread "main" ([\w.$]+)')


def java_main_class(code: str) -> tuple[str, str]:
    """(class with main, file name the source must have)."""
    classes = list(_JAVA_CLASS.finditer(code))
    if not classes:
        raise InputError("the Java program declares no class")
    main = None
    for i, m in enumerate(classes):
        end = classes[i + 1].start() if i + 1 < len(classes) else len(code)
        if _JAVA_MAIN.search(code, m.end(), end):
            main = m.group(2)
            break
    public = next((m.group(2) for m in classes if m.group(1)), None)
    main = main or classes[0].group(2)
    return main, f"{public or main}.java"


class Java(ExecLanguage):
    name = "java"
    tools = ("javac", "java")
    # Start-up flags: class-data sharing, C1 only, serial GC, no perf file: ~1 s per compile here.
    fast = ("-Xshare:auto", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData")

    def build(self, code, memory_mb, env, marker):
        tools = self.check_tools()
        main, fname = java_main_class(code)
        files = {fname: code}
        heap = max(16, memory_mb // 2)
        target = [main]
        if marker is not None:
            files["CodelmLauncher.java"] = (
                "public class CodelmLauncher { public static void main(String[] a) throws Throwable {\n"
                "  try { Class.forName(a[0]).getMethod(\"main\", String[].class).invoke(null, (Object) new String[0]); }\n"
                "  catch (java.lang.reflect.InvocationTargetException e) { throw e.getCause(); }\n"
                "  System.out.flush(); System.out.print(\"\\n\" + a[1] + \"\\n\"); System.out.flush(); } }\n"
            )
            target = ["CodelmLauncher", main, marker]
        javac = [tools["javac"], *(f"-J{f}" for f in self.fast), f"-J-Xmx{max(64, heap)}m",
                 "-encoding", "UTF-8", "-nowarn", "-d", ".", *files]
        run = [tools["java"], *self.fast, f"-Xmx{heap}m", "-Xss8m", "-ea", "-cp", ".", *target]
        return Build(files, javac, run, env, as_overhead_mb=None)

    def classify(self, status, stderr):
        if "java.lang.OutOfMemoryError" in stderr:
            return "memory", "OutOfMemoryError"
        m = _JAVA_EXC.search(stderr)
        if m and status in ("failed", "killed"):
            etype = m.group(1).rsplit(".", 1)[-1]
            return ("failed" if etype == "AssertionError" else "error"), etype
        return status, None


LANGUAGES: Registry[Language] = Registry("language")
for _lang in (Python(), JavaScript(), C(), Cpp(), Java()):
    LANGUAGES.add(_lang.name, _lang)


def get_language(name: str) -> Language:
    return LANGUAGES.get(_ALIASES.get(name.lower(), name.lower()), key="language")


_EXT = {".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".c": "c",
        ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".java": "java"}


def language_for_file(path: str) -> str:
    return _EXT.get(os.path.splitext(path)[1].lower(), "python")
