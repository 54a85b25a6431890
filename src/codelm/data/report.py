"""report.html: one self-contained page (plots embedded as base64 PNG) about a built corpus."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

# Size histogram bins: quarter powers of two from 1 byte to 16 MiB.
SIZE_EDGES = 2.0 ** np.arange(0, 24.25, 0.25)

READ_REASONS = frozenset(
    {"unreadable", "not_regular_file", "binary", "invalid_utf8", "too_large", "symlink", "symlink_loop",
     "archive_limit", "archive_bomb", "broken_archive", "malformed_record", "broken_git_repo", "worker_crash"}
)


def size_histogram(sizes: list[int] | np.ndarray) -> np.ndarray:
    """Counts of `sizes` (bytes) in SIZE_EDGES bins (sizes < 1 in the first bin)."""
    clipped = np.clip(np.asarray(sizes, dtype=np.float64), 1, SIZE_EDGES[-1] - 1)
    return np.histogram(clipped, bins=SIZE_EDGES)[0]


def funnel(manifest: dict[str, Any]) -> list[tuple[str, int]]:
    """Files left after each stage, from files_in down to files_out."""
    rejected = manifest["rejected"]
    read = sum(n for r, n in rejected.items() if r in READ_REASONS)
    quality = sum(n for r, n in rejected.items() if r not in READ_REASONS)
    left = manifest["files_in"]
    steps = [("files in", left)]
    for name, removed in (
        ("readable text", read),
        ("passed filters", quality),
        ("decontaminated", manifest["decontaminated"]),
        ("exact dedup", manifest["duplicates"]["exact"]),
        ("near dedup", manifest["duplicates"]["near"]),
    ):
        left -= removed
        steps.append((name, left))
    return steps


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(manifest: dict[str, Any], sizes: np.ndarray) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = {}
    languages = list(manifest["languages"].items())[:25]
    fig, ax = plt.subplots(figsize=(7, max(2.0, 0.28 * len(languages) + 0.8)))
    ax.barh([k for k, _ in languages][::-1], [v for _, v in languages][::-1], color="#4c72b0")
    ax.set_xlabel("files")
    ax.set_title("Languages (output files)")
    images["languages"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(SIZE_EDGES[:-1], sizes, width=np.diff(SIZE_EDGES), align="edge", color="#55a868")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("file size (bytes)")
    ax.set_ylabel("files")
    ax.set_title("Size distribution (output files)")
    images["sizes"] = _png(fig)
    plt.close(fig)

    steps = funnel(manifest)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.barh([s for s, _ in steps][::-1], [n for _, n in steps][::-1], color="#c44e52")
    for i, (_, n) in enumerate(steps[::-1]):
        ax.text(n, i, f" {n}", va="center")
    ax.set_xlabel("files remaining")
    ax.set_title("Filter funnel")
    images["funnel"] = _png(fig)
    plt.close(fig)
    return images


def _table(title: str, rows: dict[str, Any]) -> str:
    if not rows:
        return ""
    body = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows.items())
    return f"<h2>{html.escape(title)}</h2><table>{body}</table>"


def render(manifest: dict[str, Any], sizes: np.ndarray, decontaminated: list[dict[str, str]]) -> str:
    images = _plots(manifest, sizes)
    summary = {
        "files in": manifest["files_in"],
        "files out": manifest["files_out"],
        "bytes out": manifest["bytes_out"],
        "exact duplicates": manifest["duplicates"]["exact"],
        "near duplicates": manifest["duplicates"]["near"],
        "decontaminated": manifest["decontaminated"],
        "split by": manifest["split_by"],
        **{f"split {k}": v for k, v in manifest["splits"].items()},
    }
    dropped = {f"{d['repo']}/{d['path']}": d["detail"] for d in decontaminated[:200]}
    figures = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{data}"></figure>' for name, data in images.items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>codelm corpus report</title>"
        "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse}"
        "td{border:1px solid #ccc;padding:2px 8px}figure{margin:1em 0}</style></head><body>"
        "<h1>Corpus report</h1>"
        + _table("Summary", summary)
        + figures
        + _table("Rejected (reason: files)", manifest["rejected"])
        + _table("Redactions (placeholder: count)", manifest["redactions"])
        + _table("Licenses", manifest["licenses"])
        + _table("Decontaminated files", dropped)
        + "</body></html>\n"
    )
