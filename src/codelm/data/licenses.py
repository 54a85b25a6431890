"""SPDX license of a repository (LICENSE/COPYING/README text) and of a file (SPDX header).

Detection looks for phrases every copy of a license text carries (its title
or its grant sentence), not for the whole text: license files are often
reflowed, prefixed with a copyright line or concatenated with others. When a
file holds several licenses (CPython's LICENSE lists its history), the one
whose phrase comes first is the project's.

Permissiveness ranks drive the dedup keep rule ("keep the copy from the most
permissive license", REFERENCE.md) and the `license.policy: permissive` filter.
"""

from __future__ import annotations

import re
from pathlib import Path

UNKNOWN = "unknown"

# (SPDX id, phrases that must all occur) in priority order for ties; matched on
# whitespace-collapsed text, case-sensitive where titles are upper case.
_RULES: list[tuple[str, tuple[str, ...], bool]] = [
    ("AGPL-3.0", ("GNU AFFERO GENERAL PUBLIC LICENSE",), True),
    ("LGPL-3.0", ("GNU LESSER GENERAL PUBLIC LICENSE", "Version 3"), True),
    ("LGPL-2.1", ("GNU LESSER GENERAL PUBLIC LICENSE", "Version 2.1"), True),
    ("LGPL-2.0", ("GNU LIBRARY GENERAL PUBLIC LICENSE",), True),
    ("GPL-3.0", ("GNU GENERAL PUBLIC LICENSE", "Version 3"), True),
    ("GPL-2.0", ("GNU GENERAL PUBLIC LICENSE", "Version 2"), True),
    ("PSF-2.0", ("PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2",), True),
    ("Apache-2.0", ("Apache License", "Version 2.0"), False),
    ("MPL-2.0", ("Mozilla Public License", "2.0"), False),
    ("EPL-2.0", ("Eclipse Public License - v 2.0",), False),
    ("BSL-1.0", ("Boost Software License - Version 1.0",), False),
    ("Unlicense", ("This is free and unencumbered software released into the public domain",), False),
    ("CC0-1.0", ("CC0 1.0 Universal",), False),
    ("MIT", ("Permission is hereby granted, free of charge, to any person obtaining a copy",), False),
    ("ISC", ("Permission to use, copy, modify, and/or distribute this software for any purpose",), False),
    (
        "BSD-3-Clause",
        ("Redistribution and use in source and binary forms", "Neither the name"),
        False,
    ),
    ("BSD-2-Clause", ("Redistribution and use in source and binary forms",), False),
    ("Zlib", ("This software is provided 'as-is'", "must not be misrepresented"), False),
]

# README phrasing: "licensed under the MIT License", "License: Apache-2.0".
_NAMES = {
    "mit": "MIT",
    "apache": "Apache-2.0",
    "apache 2.0": "Apache-2.0",
    "apache-2.0": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "bsd": "BSD-3-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "3-clause bsd": "BSD-3-Clause",
    "bsd-2-clause": "BSD-2-Clause",
    "2-clause bsd": "BSD-2-Clause",
    "isc": "ISC",
    "gpl": "GPL-3.0",
    "gplv3": "GPL-3.0",
    "gplv2": "GPL-2.0",
    "gpl-3.0": "GPL-3.0",
    "gpl-2.0": "GPL-2.0",
    "lgpl": "LGPL-3.0",
    "agpl": "AGPL-3.0",
    "mpl-2.0": "MPL-2.0",
    "mozilla public license 2.0": "MPL-2.0",
    "unlicense": "Unlicense",
    "psf": "PSF-2.0",
    "zlib": "Zlib",
}
_README = re.compile(
    r"(?i)(?:licen[sc]ed under (?:the )?|licen[sc]e\s*[:=-]\s*\**\s*)"
    r"([A-Za-z][\w.+ ,-]{1,40}?)(?:\s+licen[sc]e\b|\.(?=\s|$)|[;)\n*]|$)"
)
_SPDX = re.compile(r"SPDX-License-Identifier:\s*([A-Za-z0-9.+()-]+(?:\s+(?:OR|AND|WITH)\s+[A-Za-z0-9.+()-]+)*)")
_WS = re.compile(r"\s+")

PERMISSIVE = frozenset(
    {
        "MIT", "MIT-0", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "0BSD", "ISC", "Unlicense",
        "CC0-1.0", "PSF-2.0", "Python-2.0", "BSL-1.0", "Zlib", "X11", "WTFPL", "BlueOak-1.0.0",
    }
)
WEAK_COPYLEFT = frozenset(
    {"LGPL-2.0", "LGPL-2.1", "LGPL-3.0", "MPL-2.0", "EPL-1.0", "EPL-2.0", "CDDL-1.0"}
)
COPYLEFT = frozenset({"GPL-2.0", "GPL-3.0", "AGPL-3.0"})

# Files whose text names the repository's license, in the order they are trusted.
LICENSE_FILE = re.compile(r"(?i)^(licen[sc]e|copying|copyright|unlicense)([.-].*)?$")
README_FILE = re.compile(r"(?i)^readme([.-].*)?$")


def detect_license_text(text: str) -> str | None:
    """SPDX id of the license a license file holds, or None."""
    flat = _WS.sub(" ", text)
    upper = flat.upper()
    best: tuple[int, int, str] | None = None
    for priority, (spdx, phrases, case_sensitive) in enumerate(_RULES):
        haystack = flat if case_sensitive else upper
        positions = [haystack.find(p if case_sensitive else p.upper()) for p in phrases]
        if min(positions) < 0:
            continue
        found = (positions[0], priority, spdx)
        if best is None or found < best:
            best = found
    if best is not None:
        return best[2]
    spdx = _SPDX.search(text)
    return normalise(spdx.group(1)) if spdx else None


def detect_readme_license(text: str) -> str | None:
    """A README's "licensed under the X license" / "License: X" statement."""
    for match in _README.finditer(text):
        name = match.group(1).strip(" .,*").lower()
        name = re.sub(r"\s+licen[sc]e$", "", name)
        if name in _NAMES:
            return _NAMES[name]
    return None


def file_spdx(text: str, lines: int = 30) -> str | None:
    """The `SPDX-License-Identifier:` expression in a file's first lines."""
    head = "\n".join(text.split("\n", lines)[:lines])
    match = _SPDX.search(head)
    return normalise(match.group(1)) if match else None


def normalise(expr: str) -> str:
    """Strip parentheses/`-only`/`-or-later` so ranks see the base ids."""
    expr = expr.strip().strip("()")
    return re.sub(r"-(only|or-later)\b|\+", "", expr)


def rank(expr: str) -> int:
    """0 permissive, 1 weak copyleft, 2 copyleft, 3 unknown/other.

    An SPDX expression `A OR B` is as permissive as its most permissive
    alternative; `A AND B` as its least.
    """
    def one(spdx: str) -> int:
        spdx = normalise(spdx.split(" WITH ")[0])
        if spdx in PERMISSIVE:
            return 0
        if spdx in WEAK_COPYLEFT:
            return 1
        if spdx in COPYLEFT:
            return 2
        return 3

    return min(max(one(part) for part in alt.split(" AND ")) for alt in expr.split(" OR "))


def is_permissive(expr: str) -> bool:
    return rank(expr) == 0


def repo_license_from_files(files: dict[str, str]) -> str:
    """License of a repository from its top-level files {name: text}."""
    for name in sorted(files):
        if LICENSE_FILE.match(name):
            found = detect_license_text(files[name])
            if found:
                return found
    for name in sorted(files):
        if README_FILE.match(name):
            found = detect_readme_license(files[name]) or file_spdx(files[name])
            if found:
                return found
    return UNKNOWN


def repo_license(root: str | Path, max_bytes: int = 256_000) -> str:
    """License of the repository rooted at a directory (top-level files only)."""
    root = Path(root)
    files: dict[str, str] = {}
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return UNKNOWN
    for entry in entries:
        if (LICENSE_FILE.match(entry.name) or README_FILE.match(entry.name)) and entry.is_file():
            try:
                with entry.open("rb") as fh:
                    files[entry.name] = fh.read(max_bytes).decode("utf-8", errors="replace")
            except OSError:
                continue
    return repo_license_from_files(files)
