"""Language identification from file name, extension and shebang.

Used for labelling every corpus file, including languages without a bundled
tree-sitter grammar. Names follow GitHub Linguist's spelling, lower-cased
(`python`, `c++` is spelled `cpp`, `c#` is `csharp`) so they are safe in paths
and config keys.
"""

from __future__ import annotations

import re
from pathlib import PurePath

# extension (lower case, with dot) -> language
EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyw": "python", ".pyx": "cython",
    ".java": "java",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp", ".hpp": "cpp", ".hh": "cpp",
    ".hxx": "cpp", ".h++": "cpp", ".ipp": "cpp", ".inl": "cpp",
    ".cs": "csharp",
    ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby",
    ".php": "php", ".phtml": "php",
    ".kt": "kotlin", ".kts": "kotlin",
    ".scala": "scala", ".sc": "scala",
    ".swift": "swift",
    ".m": "objective-c", ".mm": "objective-c++",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".ksh": "shell",
    ".ps1": "powershell", ".psm1": "powershell",
    ".pl": "perl", ".pm": "perl", ".t": "perl",
    ".lua": "lua",
    ".r": "r",
    ".jl": "julia",
    ".hs": "haskell", ".lhs": "haskell",
    ".ml": "ocaml", ".mli": "ocaml",
    ".fs": "fsharp", ".fsi": "fsharp", ".fsx": "fsharp",
    ".ex": "elixir", ".exs": "elixir",
    ".erl": "erlang", ".hrl": "erlang",
    ".clj": "clojure", ".cljs": "clojure", ".cljc": "clojure", ".edn": "clojure",
    ".lisp": "common-lisp", ".lsp": "common-lisp", ".cl": "common-lisp",
    ".el": "emacs-lisp",
    ".scm": "scheme", ".ss": "scheme", ".rkt": "racket",
    ".dart": "dart",
    ".zig": "zig",
    ".nim": "nim",
    ".d": "d",
    ".f": "fortran", ".f90": "fortran", ".f95": "fortran", ".f03": "fortran", ".for": "fortran",
    ".pas": "pascal", ".pp": "pascal",
    ".adb": "ada", ".ads": "ada",
    ".cob": "cobol", ".cbl": "cobol",
    ".vhd": "vhdl", ".vhdl": "vhdl", ".v": "verilog", ".sv": "systemverilog",
    ".sol": "solidity",
    ".groovy": "groovy", ".gradle": "groovy",
    ".tcl": "tcl",
    ".vb": "visual-basic",
    ".asm": "assembly", ".s": "assembly",
    ".cu": "cuda", ".cuh": "cuda",
    ".sql": "sql",
    ".html": "html", ".htm": "html", ".xhtml": "html",
    ".css": "css", ".scss": "scss", ".sass": "sass", ".less": "less",
    ".vue": "vue", ".svelte": "svelte",
    ".json": "json", ".jsonl": "json", ".ipynb": "jupyter-notebook",
    ".yaml": "yaml", ".yml": "yaml",
    ".toml": "toml", ".ini": "ini", ".cfg": "ini", ".conf": "ini",
    ".xml": "xml", ".xsd": "xml", ".xsl": "xml", ".svg": "svg",
    ".md": "markdown", ".markdown": "markdown", ".rst": "restructuredtext",
    ".tex": "tex", ".txt": "text",
    ".proto": "protocol-buffer", ".graphql": "graphql", ".gql": "graphql",
    ".cmake": "cmake", ".mk": "makefile", ".mak": "makefile",
    ".dockerfile": "dockerfile",
    ".bat": "batchfile", ".cmd": "batchfile",
    ".awk": "awk",
    ".coq": "coq", ".agda": "agda", ".idr": "idris", ".sml": "standard-ml", ".elm": "elm",
    ".purs": "purescript", ".cr": "crystal", ".hx": "haxe", ".vim": "vim-script",
}

# whole file names (exact, case-sensitive first, then lower-cased)
FILENAMES: dict[str, str] = {
    "Makefile": "makefile", "makefile": "makefile", "GNUmakefile": "makefile",
    "Dockerfile": "dockerfile", "Containerfile": "dockerfile",
    "CMakeLists.txt": "cmake",
    "Rakefile": "ruby", "Gemfile": "ruby", "Podfile": "ruby", "Vagrantfile": "ruby",
    "BUILD": "starlark", "BUILD.bazel": "starlark", "WORKSPACE": "starlark",
    "Jenkinsfile": "groovy",
    "SConstruct": "python", "SConscript": "python",
    ".bashrc": "shell", ".bash_profile": "shell", ".zshrc": "shell", ".profile": "shell",
    "go.mod": "go-module", "Cargo.toml": "toml", "Pipfile": "toml",
    "LICENSE": "text", "COPYING": "text", "README": "text",
}

# interpreter in a shebang line -> language
INTERPRETERS: dict[str, str] = {
    "python": "python", "python2": "python", "python3": "python", "pypy": "python", "pypy3": "python",
    "sh": "shell", "bash": "shell", "zsh": "shell", "ksh": "shell", "dash": "shell", "fish": "fish",
    "node": "javascript", "nodejs": "javascript", "deno": "typescript", "ts-node": "typescript",
    "ruby": "ruby", "perl": "perl", "php": "php", "lua": "lua", "Rscript": "r",
    "julia": "julia", "tclsh": "tcl", "wish": "tcl", "awk": "awk", "gawk": "awk",
    "groovy": "groovy", "scala": "scala", "elixir": "elixir", "escript": "erlang",
    "runhaskell": "haskell", "guile": "scheme", "racket": "racket", "swift": "swift",
    "pwsh": "powershell", "osascript": "applescript",
}

# languages whose text is data or prose rather than code (filters treat them apart)
DATA_LANGUAGES = frozenset({"json", "yaml", "toml", "ini", "xml", "svg", "jupyter-notebook"})
TEXT_LANGUAGES = frozenset({"text", "markdown", "restructuredtext", "tex"})

def language_from_shebang(first_line: str) -> str | None:
    """`#!/usr/bin/env python3 -u` → `python`; `#!/usr/bin/env -S ruby -w` → `ruby`."""
    if not first_line.startswith("#!"):
        return None
    words = first_line[2:].split()
    if not words:
        return None
    program = words[0].rsplit("/", 1)[-1]
    if program == "env":  # skip env's own options and VAR=value assignments
        rest = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        if not rest:
            return None
        program = rest[0].rsplit("/", 1)[-1]
    base = re.sub(r"[\d.]+$", "", program) or program  # python3.11 -> python
    return INTERPRETERS.get(base) or INTERPRETERS.get(program)


def detect_language(path: str | PurePath, content: str | None = None) -> str | None:
    """The language of a file, or None when unknown.

    Order: exact file name, extension, then the shebang of `content` (scripts
    often have no extension).
    """
    name = PurePath(path).name
    if name in FILENAMES:
        return FILENAMES[name]
    lowered = name.lower()
    if lowered.startswith("dockerfile"):
        return "dockerfile"
    suffix = PurePath(lowered).suffix
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    if content:
        return language_from_shebang(content.split("\n", 1)[0])
    return None


def known_languages() -> list[str]:
    """Every language name this module can return."""
    return sorted(set(EXTENSIONS.values()) | set(FILENAMES.values()) | set(INTERPRETERS.values()))
