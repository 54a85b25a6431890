"""PII and secret redaction: emails, public IP addresses, keys and tokens, passwords.

Each match is replaced by a placeholder (`<EMAIL>`, `<IP_ADDRESS>`, `<KEY>`,
`<PASSWORD>`), the scheme BigCode used for StarCoder's training data, so a
model learns where such values go without learning the values. Redaction is
regex based (no model), tuned to leave code alone: matrix products
(`x@w.weight`), version strings (`1.2.3.4`), private and documentation IP
ranges, C++ scopes (`a::b`), placeholders and low-entropy dummies are kept.
Placeholders themselves never match again, so redaction is idempotent.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter

from codelm.data.config import PIIConfig

EMAIL, IP, KEY, PASSWORD = "<EMAIL>", "<IP_ADDRESS>", "<KEY>", "<PASSWORD>"

# --- emails -----------------------------------------------------------------
_TLDS = (
    "com|net|org|edu|gov|mil|int|info|biz|io|ai|dev|app|name|pro|xyz|tech|online|site|"
    "cloud|email|mobi|museum|aero|coop|jobs|[a-z]{2}"
)
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?i:" + _TLDS + r")(?![\w@-])"
)
# RFC 2606 / 6761 reserved names and VCS remotes are not personal data.
_EMAIL_KEEP = re.compile(r"(?i)^git@|@(?:[\w-]+\.)*(?:example\.(?:com|org|net)|example|test|invalid|localhost)$")

# --- IP addresses -----------------------------------------------------------
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(r"(?<![\w.])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?!\w|\.\w)")
# Text just before a dotted quad that makes it a version, not an address.
_VERSION_CONTEXT = re.compile(
    r"(?i)(?:(?:version|release|\bver|\brev|python|\bv)\w*\s*[:=(]*\s*[\"']?|[<>=~!]=\s*[\"']?)$"
)
_IPV6 = re.compile(r"(?<![\w:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?![\w:.])")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")

# --- keys and tokens ---------------------------------------------------------
_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*?)PRIVATE KEY((?: BLOCK)?)-----[\s\S]*?-----END \1PRIVATE KEY\2-----"
)
_TOKENS = [
    # AWS access key ids (AKIA… long-term, ASIA… temporary, and the other IAM prefixes)
    re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA|AIPA|ANPA|ANVA|AGPA)[A-Z0-9]{16}\b"),
    # GitHub personal/OAuth/app tokens, fine-grained PATs
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b"),
    # Slack tokens and incoming webhooks
    re.compile(r"\bxox[abprs]-(?:[0-9A-Za-z]+-){1,4}[0-9A-Za-z]{4,}\b"),
    re.compile(r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
]
_AWS_SECRET = re.compile(r"(?i)(aws_?secret_?(?:access_?)?key\W{0,4}[:=]\s*[\"']?)([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])")
# name = "value" where the name says secret; the value is judged by `_secret_kind`.
_ASSIGNMENT = re.compile(
    r"(?i)\b([\w.-]*?(?:passw(?:or)?d|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"auth[_-]?key|private[_-]?key|client[_-]?secret)[\w.-]*)"
    r"(\s*(?::=|=>|=|:)\s*)([\"'`])([^\"'`\s]{6,200})\3"
)
_PASSWORD_NAME = re.compile(r"(?i)passw(?:or)?d|passwd|pwd")
_TEMPLATE = re.compile(r"[{}<>$%]|\*\*\*|^(?:x+|\.+|-+|_+)$")
_DUMMIES = frozenset(
    {"password", "passwd", "changeme", "secret", "example", "dummy", "placeholder", "redacted",
     "notsecret", "nopassword", "your_password", "yourpassword", "test", "testing"}
)


def shannon_entropy(text: str) -> float:
    """Bits per character of the character distribution of `text`."""
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _classes(value: str) -> int:
    return sum(
        (any(c.islower() for c in value), any(c.isupper() for c in value),
         any(c.isdigit() for c in value), any(not c.isalnum() for c in value))
    )


def _secret_kind(name: str, value: str) -> str | None:
    """PASSWORD, KEY or None (keep) for `name = "value"`."""
    if _TEMPLATE.search(value) or value.lower() in _DUMMIES or len(set(value)) <= 2:
        return None
    if value.lower() == name.lower() or re.fullmatch(r"[A-Z][A-Z_]*", value):
        return None  # SECRET_KEY = "SECRET_KEY": a name, not a value
    if _PASSWORD_NAME.search(name):
        return PASSWORD if len(value) >= 6 and _classes(value) >= 2 else None
    # keys/tokens: long, random-looking, with digits (base62/hex keys nearly always have some)
    if len(value) >= 16 and any(c.isdigit() for c in value) and _classes(value) >= 2 and shannon_entropy(value) >= 3.0:
        return KEY
    return None


def _is_public_ipv4(text: str, start: int, end: int, candidate: str) -> bool:
    """Globally routable, unicast, not a network (`/24`) and not version-like.

    Version-like: version/release/`==` just before it, or its first three
    numbers all single digits (`3.1.1.6`, section `8.2.4.44`); the public
    addresses of that shape are well-known resolvers (`8.8.8.8`), not personal.
    """
    address = ipaddress.IPv4Address(candidate)
    if not address.is_global or address.is_multicast or address.is_reserved:
        return False
    if text.startswith("/", end) and text[end + 1 : end + 2].isdigit():
        return False
    if all(len(part) == 1 for part in candidate.split(".")[:3]):
        return False
    line_start = text.rfind("\n", 0, start) + 1
    return not _VERSION_CONTEXT.search(text[max(line_start, start - 24) : start])


def _is_public_ipv6(candidate: str) -> bool:
    if candidate.count(":") < 2 or len([g for g in candidate.split(":") if g]) < 3:
        return False
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return address.is_global and address in _GLOBAL_UNICAST


# Cheap scans that find the few lines worth running the full patterns on
# (Python's re has no literal-prefix skip for patterns that open with a
# character class; these are 3-5x faster than the full patterns).
_HAS_IPV4 = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")
_HAS_IPV6 = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f]{0,4}:")
_HAS_SECRET_NAME = re.compile(
    r"passw|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|private[_-]?key"
)
_TOKEN_LITERALS = [("AKIA", "ASIA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "AGPA"),
                   ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), ("github_pat_",), ("xox",), ("hooks.slack.com",)]
_AT = re.compile("@")
# an assignment of a quoted value somewhere after the secret-looking name
_ASSIGN_HINT = re.compile(r"""(?::=|=>|=|:)\s*["'`]""")


def _line_windows(text: str, pattern: re.Pattern[str], haystack: str | None = None) -> list[tuple[int, int]]:
    """The distinct lines (start, end) of `text` where `pattern` matches `haystack` (default: text).

    After a hit the scan resumes at the next line, so a line full of hits costs one search.
    """
    hay = text if haystack is None else haystack
    windows: list[tuple[int, int]] = []
    pos = 0
    while (match := pattern.search(hay, pos)) is not None:
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        end = len(text) if end < 0 else end
        windows.append((start, end))
        pos = end + 1
    return windows


Span = tuple[int, int, str]  # (start, end, replacement) on the original text


class Redactor:
    """Apply the enabled patterns; `redact` returns the text and counts per placeholder."""

    def __init__(self, cfg: PIIConfig | None = None) -> None:
        self.cfg = cfg or PIIConfig()

    def spans(self, text: str) -> list[Span]:
        """Every replacement, detectors in priority order (earlier ones win overlaps)."""
        cfg = self.cfg
        found: list[Span] = []
        if cfg.keys:
            if "PRIVATE KEY" in text:
                found += [(m.start(), m.end(), KEY) for m in _PRIVATE_KEY.finditer(text)]
            for pattern, literals in zip(_TOKENS, _TOKEN_LITERALS, strict=True):
                if any(lit in text for lit in literals):
                    found += [(m.start(), m.end(), KEY) for m in pattern.finditer(text)]
            if "aws" in text or "AWS" in text or "Aws" in text:
                found += [(m.start(2), m.end(2), KEY) for m in _AWS_SECRET.finditer(text)]
        if cfg.keys or cfg.passwords:
            lowered = text.lower()
            if len(lowered) == len(text):  # lower() kept offsets (true unless e.g. 'İ' occurs)
                windows = _line_windows(text, _HAS_SECRET_NAME, lowered)
            else:
                windows = _line_windows(text, _ASSIGNMENT)
            for start, end in windows:
                if not _ASSIGN_HINT.search(text, start, end):
                    continue
                for m in _ASSIGNMENT.finditer(text, start, end):
                    kind = _secret_kind(m.group(1), m.group(4))
                    if (kind == PASSWORD and cfg.passwords) or (kind == KEY and cfg.keys):
                        found.append((m.start(4), m.end(4), kind))
        if cfg.emails and "@" in text:
            for start, end in _line_windows(text, _AT):
                found += [
                    (m.start(), m.end(), EMAIL)
                    for m in _EMAIL.finditer(text, start, end)
                    if not _EMAIL_KEEP.search(m.group(0))
                ]
        if cfg.ip_addresses:
            for start, end in _line_windows(text, _HAS_IPV4):
                found += [
                    (m.start(), m.end(), IP)
                    for m in _IPV4.finditer(text, start, end)
                    if _is_public_ipv4(text, m.start(), m.end(), m.group(0))
                ]
            for start, end in _line_windows(text, _HAS_IPV6):
                found += [(m.start(), m.end(), IP) for m in _IPV6.finditer(text, start, end) if _is_public_ipv6(m.group(0))]
        return found

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        if not self.cfg.enabled:
            return text, {}
        found = self.spans(text)
        if not found:
            return text, {}
        # Sweep by position; where spans overlap keep the earlier detector's
        # (private key blocks before tokens before emails ...), then rebuild once.
        kept: list[tuple[int, int, int, str]] = []  # (start, end, priority, placeholder)
        for start, priority in sorted((span[0], i) for i, span in enumerate(found)):
            end, placeholder = found[priority][1], found[priority][2]
            if kept and start < kept[-1][1]:
                if priority < kept[-1][2]:
                    kept[-1] = (start, end, priority, placeholder)
                continue
            kept.append((start, end, priority, placeholder))
        pieces, counts, cursor = [], Counter(), 0
        for start, end, _, placeholder in kept:
            pieces += [text[cursor:start], placeholder]
            counts[placeholder.strip("<>")] += 1
            cursor = end
        pieces.append(text[cursor:])
        return "".join(pieces), dict(sorted(counts.items()))


def redact(text: str, cfg: PIIConfig | None = None) -> tuple[str, dict[str, int]]:
    """Redact `text` with `cfg` (all patterns by default)."""
    return Redactor(cfg).redact(text)
