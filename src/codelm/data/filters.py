"""Per-file quality filters (StarCoder / The Stack v2, REFERENCE.md "Data curation").

Each filter is a small function with its threshold from `FilterConfig`;
`quality_reason` runs them cheapest first and returns the first failing
reason (the name counted in the manifest and written to rejects.jsonl) with a
detail for people. Reason names are stable: they are config-free keys users
grep for.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from codelm.analysis.languages import TEXT_LANGUAGES
from codelm.data.config import FilterConfig

# JSON and YAML get the 50–5000 character bounds; text, JSON and YAML the 512-line cap.
BOUNDED_DATA = frozenset({"json", "yaml"})
LINE_CAPPED = frozenset(TEXT_LANGUAGES | BOUNDED_DATA)

# Encoded blobs (The Stack v2): base64 runs of 64+ characters, runs of 8+ hex
# bytes (`\\xHH`, `0xHH, ...`), runs of 8+ `\\uXXXX` escapes. Base64 runs are
# found with a byte lookup table and numpy run lengths (regex scanning of a
# character class is ~10 MB/s in Python); the rarer escapes with regexes, only
# when their two-character introducer occurs at all.
_BASE64 = np.zeros(256, dtype=bool)
_BASE64[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n", dtype=np.uint8)] = True
_BASE64_MIN_RUN = 64
# Each pattern opens with a literal outside any group: only then does re skip
# straight to candidate positions (a repeated group as the first item makes
# it try every position, 20 MB/s instead of ~1 GB/s).
_HEX = r"[0-9A-Fa-f]{1,8}\s*,\s*"
_ESCAPES = [
    ("\\x", re.compile(r"\\x[0-9A-Fa-f]{2}(?:\\x[0-9A-Fa-f]{2}){7,}")),
    ("0x", re.compile(r"0x" + _HEX + r"(?:0[xX]" + _HEX + r"){7,}")),
    ("0X", re.compile(r"0X" + _HEX + r"(?:0[xX]" + _HEX + r"){7,}")),
    ("\\u", re.compile(r"\\u[0-9A-Fa-f]{4}(?:\\u[0-9A-Fa-f]{4}){7,}")),
    ("\\U", re.compile(r"\\U[0-9A-Fa-f]{8}(?:\\U[0-9A-Fa-f]{8}){7,}")),
]


def base64_runs(text: str, min_run: int = _BASE64_MIN_RUN) -> np.ndarray:
    """Lengths of the maximal runs of base64 characters (newline included) >= min_run."""
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    mask = _BASE64[data].astype(np.int8)
    edges = np.diff(np.concatenate(([0], mask, [0])))  # +1 where a run starts, -1 after it ends
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    return lengths[lengths >= min_run]

def is_vendored(path: str, vendored_dirs: list[str]) -> str | None:
    """The vendored directory (node_modules, vendor, third_party, ...) a path lies under."""
    parts = PurePosixPath(path).parts[:-1]
    lowered = {d.lower() for d in vendored_dirs}
    return next((p for p in parts if p.lower() in lowered), None)


def generated_marker(text: str, markers: list[str], lines: int = 5) -> str | None:
    """The auto-generated marker found in the first `lines` lines (case-insensitive)."""
    head = "\n".join(text.split("\n", lines)[:lines]).lower()
    return next((m for m in markers if m.lower() in head), None)


def encoded_data(text: str, max_run: int = 1024, max_fraction: float = 0.5) -> str | None:
    """Why `text` looks like an encoded blob (a run > max_run, or runs > max_fraction), or None."""
    runs = base64_runs(text)
    total, longest = int(runs.sum()), int(runs.max(initial=0))
    spans = sorted(
        (m.start(), m.end()) for introducer, pattern in _ESCAPES if introducer in text for m in pattern.finditer(text)
    )
    end = -1
    for start, stop in spans:  # union of spans: a mixed-case 0x/0X run may match twice
        longest = max(longest, stop - start)
        total += max(0, stop - max(start, end))
        end = max(end, stop)
    if longest > max_run:
        return f"encoded run of {longest} chars"
    if text and total > max_fraction * len(text):
        return f"encoded runs cover {total / len(text):.0%}"
    return None


def quality_reason(
    text: str, language: str, stats: dict[str, Any], n_tokens: int, cfg: FilterConfig
) -> tuple[str, str] | None:
    """(reason, detail) for the first quality filter `text` fails, else None.

    `stats` is `corpus.line_stats(text)`; `n_tokens` the count of `\\W+` word tokens.
    """
    if stats["lines"] > cfg.max_lines:
        return "too_many_lines", f"{stats['lines']} lines > {cfg.max_lines}"
    if language in LINE_CAPPED and stats["lines"] > cfg.text_max_lines:
        return "text_too_long", f"{language} with {stats['lines']} lines > {cfg.text_max_lines}"
    if language in BOUNDED_DATA and not cfg.data_min_chars <= len(text) <= cfg.data_max_chars:
        return "data_length", f"{language} of {len(text)} chars outside {cfg.data_min_chars}-{cfg.data_max_chars}"
    # the most telling reasons first: a generated or encoded file usually has long lines too
    marker = generated_marker(text, cfg.generated_markers, cfg.generated_lines)
    if marker is not None:
        return "auto_generated", f"'{marker}' in the first {cfg.generated_lines} lines"
    encoded = encoded_data(text, cfg.encoded_max_run, cfg.encoded_max_fraction)
    if encoded is not None:
        return "encoded_data", encoded
    if stats["max_line_length"] > cfg.max_line_length:
        return "max_line_length", f"a line of {stats['max_line_length']} chars > {cfg.max_line_length}"
    if stats["avg_line_length"] > cfg.max_avg_line_length:
        return "avg_line_length", f"mean line {stats['avg_line_length']:.1f} chars > {cfg.max_avg_line_length:g}"
    if stats["alphanum_fraction"] < cfg.min_alphanum_fraction:
        return (
            "alphanum_fraction",
            f"alphanumeric fraction {stats['alphanum_fraction']:.3f} < {cfg.min_alphanum_fraction:g}",
        )
    if n_tokens < cfg.min_tokens:
        return "min_tokens", f"{n_tokens} tokens < {cfg.min_tokens}"
    return None


def language_reason(language: str | None, cfg: FilterConfig) -> tuple[str, str] | None:
    """Language policy: unknown languages and, with `languages`, the ones not listed."""
    if language is None:
        return None if cfg.keep_unknown_language else ("unknown_language", "no language from name, extension or shebang")
    if cfg.languages is not None and language not in cfg.languages:
        return "language_excluded", f"{language} not in filters.languages"
    return None

