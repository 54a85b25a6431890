"""`report.html`: one standalone page a person can open (plots embedded as PNG).

Sections: headline metrics (bar chart + table), generation methods against
plain sampling when measured, the status breakdown (who failed how),
per-problem pass rates (sorted plot + table), and the first failures with
their detail. matplotlib runs on the Agg backend; nothing is fetched.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codelm.runs import atomic_write_text

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f7f7f7;padding:.5rem;overflow-x:auto;max-height:16rem}
.meta{color:#555}img{max-width:100%}
"""
_STATUS_COLORS = {"passed": "#2e7d32", "failed": "#c62828", "error": "#ef6c00", "syntax": "#6a1b9a",
                  "timeout": "#1565c0", "memory": "#00838f", "killed": "#4e342e", "sandbox_error": "#757575",
                  "scored": "#546e7a"}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def metric_bars(metrics: dict[str, float], title: str = "metrics") -> str:
    plt = _plt()
    names = list(metrics)
    fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(names) + 2), 3))
    values = [metrics[n] for n in names]
    bars = ax.bar(names, values, color="#3f51b5")
    for bar, v in zip(bars, values, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{v:.3f}", ha="center", va="bottom", fontsize=8)
    top = max([1.0, *values]) if all(v <= 1.0 for v in values) else max(values) * 1.15
    ax.set_ylim(0, top * 1.08)
    ax.set_title(title)
    return _png(fig)


def status_bars(statuses: dict[str, int]) -> str:
    plt = _plt()
    names = sorted(statuses, key=lambda s: -statuses[s])
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(names) + 2), 2.8))
    ax.bar(names, [statuses[n] for n in names], color=[_STATUS_COLORS.get(n, "#999") for n in names])
    ax.set_ylabel("samples")
    ax.set_title("status breakdown")
    return _png(fig)


def per_problem_plot(per_task: dict[str, dict[str, Any]], key: str) -> str:
    plt = _plt()
    rates = sorted(((v["correct"] / v["n"]) if v.get("n") else 0.0 for v in per_task.values()), reverse=True)
    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.bar(range(len(rates)), rates, width=1.0, color="#26a69a")
    ax.set_xlim(-0.5, len(rates) - 0.5)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(f"problems (sorted), {len(rates)} in all")
    ax.set_ylabel(key)
    ax.set_title("per-problem pass rate")
    return _png(fig)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f'<td class="num">{v:.4f}</td>'
        if isinstance(v, int) and not isinstance(v, bool):
            return f'<td class="num">{v}</td>'
        return f"<td>{html.escape(str(v))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render(summary: dict[str, Any], records: list[dict[str, Any]], max_failures: int = 20) -> str:
    metrics = {k: float(v) for k, v in summary.get("metrics", {}).items() if isinstance(v, int | float)}
    parts = [f"<h1>Evaluation: {html.escape(str(summary.get('task')))}</h1>"]
    versions = summary.get("versions", {})
    meta = [("model", summary.get("model")), ("n per problem", summary.get("n")), ("samples", summary.get("samples")),
            ("sandbox tier", versions.get("sandbox_tier")), ("harness", versions.get("harness")),
            ("dataset", versions.get("dataset")), ("dataset sha256", str(versions.get("dataset_hash", ""))[:16]),
            ("seed", summary.get("seed"))]
    parts.append('<p class="meta">' + " · ".join(f"{html.escape(k)}: {html.escape(str(v))}" for k, v in meta) + "</p>")
    parts.append("<h2>Metrics</h2>")
    parts.append(_table(["metric", "value"], [(k, v) for k, v in metrics.items()]))
    if metrics:
        scaled = {k: v for k, v in metrics.items() if 0.0 <= v <= 1.0}
        if scaled:
            parts.append(f'<img alt="metrics" src="{metric_bars(scaled)}">')
    methods = summary.get("methods") or {}
    if methods:
        parts.append("<h2>Generation methods against plain sampling</h2>")
        keys = sorted({k for m in methods.values() for k, v in m.items() if isinstance(v, int | float)})
        parts.append(_table(["method", *keys], [(name, *[m.get(k, "") for k in keys]) for name, m in methods.items()]))
        headline = {name: float(m["pass@1"]) for name, m in methods.items() if "pass@1" in m}
        if headline:
            parts.append(f'<img alt="methods" src="{metric_bars(headline, "pass@1 by method")}">')
    statuses = summary.get("statuses") or {}
    if statuses:
        parts.append("<h2>Status breakdown</h2>")
        parts.append(_table(["status", "samples"], sorted(statuses.items(), key=lambda kv: -kv[1])))
        parts.append(f'<img alt="statuses" src="{status_bars(statuses)}">')
    per_task = summary.get("per_task") or {}
    if per_task and any("correct" in v for v in per_task.values()):
        parts.append("<h2>Per-problem pass rates</h2>")
        parts.append(f'<img alt="per problem" src="{per_problem_plot(per_task, "pass rate")}">')
        keys = [k for k in ("n", "correct", "pass@1", "timeout_s", "canonical") if any(k in v for v in per_task.values())]
        rows = [(tid, *[v.get(k, "") for k in keys], ", ".join(f"{s}:{c}" for s, c in sorted(v.get("statuses", {}).items())))
                for tid, v in per_task.items()]
        parts.append("<details><summary>table of all problems</summary>" + _table(["task_id", *keys, "statuses"], rows)
                     + "</details>")
    failures = [r for r in records if r.get("passed") is False and r.get("status") not in ("scored",)][:max_failures]
    if failures:
        parts.append(f"<h2>First {len(failures)} failures</h2>")
        for r in failures:
            parts.append(f"<h3>{html.escape(str(r['task_id']))} · sample {r.get('sample')} · {html.escape(str(r.get('status')))}</h3>")
            if r.get("detail"):
                parts.append(f"<pre>{html.escape(str(r['detail']))}</pre>")
            parts.append(f"<pre>{html.escape(str(r.get('completion', ''))[:3000])}</pre>")
    title = html.escape(f"codelm eval: {summary.get('task')}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")


def write_report(path: str | Path, summary: dict[str, Any], records: list[dict[str, Any]]) -> Path:
    path = Path(path)
    atomic_write_text(path, render(summary, records))
    return path
