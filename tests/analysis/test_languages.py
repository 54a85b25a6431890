"""Language identification from file name, extension and shebang (≥ 30 languages)."""

from __future__ import annotations

from codelm.analysis import SUPPORTED_LANGUAGES, detect_language, known_languages

BY_NAME = {
    "a.py": "python", "stubs.pyi": "python", "Main.java": "java", "app.js": "javascript",
    "mod.mjs": "javascript", "view.jsx": "javascript", "x.ts": "typescript", "x.tsx": "tsx",
    "main.go": "go", "lib.rs": "rust", "a.c": "c", "a.h": "c", "a.cc": "cpp", "a.hpp": "cpp",
    "P.cs": "csharp", "a.rb": "ruby", "index.php": "php", "a.kt": "kotlin", "a.scala": "scala",
    "a.swift": "swift", "a.m": "objective-c", "run.sh": "shell", "a.ps1": "powershell",
    "a.pl": "perl", "a.lua": "lua", "a.R": "r", "a.jl": "julia", "a.hs": "haskell",
    "a.ml": "ocaml", "a.fs": "fsharp", "a.ex": "elixir", "a.erl": "erlang", "a.clj": "clojure",
    "a.dart": "dart", "a.zig": "zig", "a.f90": "fortran", "a.sql": "sql", "a.html": "html",
    "a.css": "css", "a.vue": "vue", "a.cu": "cuda", "a.sol": "solidity", "a.groovy": "groovy",
    "Makefile": "makefile", "Dockerfile": "dockerfile", "Dockerfile.dev": "dockerfile",
    "CMakeLists.txt": "cmake", "Gemfile": "ruby", "BUILD.bazel": "starlark", "a.yaml": "yaml",
    "a.json": "json", "README.md": "markdown", "pkg/DIR/Rakefile": "ruby",
}


def test_extensions_and_file_names():
    for name, language in BY_NAME.items():
        assert detect_language(name) == language, name
    assert len({detect_language(n) for n in BY_NAME}) >= 45
    assert len(known_languages()) >= 80
    assert set(SUPPORTED_LANGUAGES) <= set(known_languages())


def test_shebang_decides_for_scripts_without_extension():
    assert detect_language("bin/tool", "#!/usr/bin/env python3\nprint(1)\n") == "python"
    assert detect_language("bin/tool", "#!/usr/bin/python3.11 -u\n") == "python"
    assert detect_language("bin/run", "#!/bin/bash\necho hi\n") == "shell"
    assert detect_language("bin/srv", "#!/usr/bin/env node\n") == "javascript"
    assert detect_language("bin/x", "#!/usr/bin/env -S ruby -w\n") == "ruby"
    assert detect_language("bin/y", "#!/usr/bin/env LANG=C perl\n") == "perl"
    assert detect_language("notes", "just text\n") is None
    assert detect_language("a.unknownext") is None
