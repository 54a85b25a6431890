"""The quickstart's report: `report.html` (standalone, plots embedded) and `summary.md`.

It answers what a new user wants to know after the first run: what was
built, did training work, how do the trained model and its untrained
initialisation compare, what do completions look like, and what to run next.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from codelm.runs import RunDir, atomic_write_text

# Metrics where a smaller value is better (the rest: larger is better).
LOWER_IS_BETTER = {"validation perplexity"}


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def metric_rows(metrics: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per metric: untrained, trained, and whether training improved it."""
    rows = []
    for name, trained in metrics["trained"].items():
        init = metrics["init"].get(name)
        better = None
        if init is not None and trained != init:
            better = trained < init if name in LOWER_IS_BETTER else trained > init
        rows.append({"metric": name, "untrained": init, "trained": trained, "improved": better})
    return rows


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def metrics_plot(rows: list[dict[str, Any]]) -> str:
    """Grouped bars untrained vs trained for the metrics in [0, 1] (perplexity has its own scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r["metric"] not in LOWER_IS_BETTER]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    xs = range(len(shown))
    ax.bar([x - 0.2 for x in xs], [r["untrained"] or 0 for r in shown], 0.4, label="untrained", color="#bbbbbb")
    ax.bar([x + 0.2 for x in xs], [r["trained"] or 0 for r in shown], 0.4, label="trained", color="#3b7dd8")
    ax.set_xticks(list(xs), [r["metric"] for r in shown], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("score")
    ax.legend(fontsize=8)
    ax.set_title("Untrained initialisation vs pretrained model")
    data = _png(fig)
    plt.close(fig)
    return data


def _read_jsonl(path: Path, limit: int) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
        if len(rows) >= limit:
            break
    return rows


def examples(summary: dict[str, Any], count: int = 3) -> dict[str, list[dict[str, str]]]:
    """A few completions and infillings of the trained model, with their prompts."""
    from codelm.config import load_yaml
    from codelm.eval.config import EvalConfig
    from codelm.eval.tasks import get_task

    shown: dict[str, list[dict[str, str]]] = {}
    for name in ("humaneval-greedy", "infill"):
        run_dir = Path(summary["evaluations"]["trained"][name]["dir"])
        firsts: dict[str, dict[str, Any]] = {}
        for r in _read_jsonl(run_dir / "results.jsonl", 200):
            firsts.setdefault(r["task_id"], r)
        if not firsts:
            continue
        # The same task options and seed as the evaluation, so the problems are the same ones.
        cfg = EvalConfig.model_validate(load_yaml(run_dir / "config.yaml"))
        problems = {p.task_id: p for p in get_task(cfg.task, cfg.task_options, cfg.seed).problems()}
        rows = []
        for task_id, r in list(firsts.items())[:count]:
            p = problems[task_id]
            rows.append({"task_id": task_id, "prompt": p.prompt[-400:], "completion": r["completion"],
                         "status": r.get("status", ""), "suffix": p.suffix[:200], "truth": p.reference or ""})
        shown[name] = rows
    return shown


def continue_commands(summary: dict[str, Any]) -> list[tuple[str, str]]:
    out = summary["out"]
    model = summary["model"]["dir"]
    run_dir = summary["train_run_dir"]
    return [
        ("Train longer (continue from the trained weights, 30 minutes)",
         f"codelm train {run_dir}/config.yaml --set model.path={model} --set model.preset=null "
         f"--set loop.max_minutes=30 --set out={out}/train-longer"),
        ("Train a bigger model from scratch",
         f"codelm train {run_dir}/config.yaml --set model.preset=decoder-small --set out={out}/train-small"),
        ("Evaluate on all of HumanEval", f"codelm eval run --task humaneval --model {model} --n 10 --k 1,10 "
         f"--out {out}/eval-humaneval"),
        ("Complete code from the command line", f"codelm generate --model {model} --prompt 'def fibonacci(n):'"),
        ("Serve it to an IDE client (OpenAI-compatible, FIM included)", f"codelm serve --model {model} --port 8000"),
    ]


def run_time(summary: dict[str, Any]) -> str:
    """How long the run took; one that reused stages also says how long they took when built."""
    stages = summary["stages"].values()
    reused = sum(1 for t in stages if t.get("reused"))
    text = f"built in {summary['seconds'] / 60:.1f} min of a {summary['minutes_budget']}-minute budget"
    if reused:
        built = sum(t.get("first_seconds", t["seconds"]) for t in stages)
        text += f", reusing {reused} of {len(summary['stages'])} stages (their first run took {built / 60:.1f} min)"
    return text


def _counts(counts: dict[str, int]) -> str:
    """`{'binary': 164, 'too_large': 5}` as "binary 164, too large 5", largest first."""
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name.replace('_', ' ')} {n:,}" for name, n in ordered) or "none"


def summary_markdown(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    t = summary["training"]
    c = summary["corpus"]
    lines = [
        "# codelm quickstart",
        "",
        f"Pipeline {run_time(summary)}.",
        "",
        f"- Corpus: {c.get('files_out')} files ({c.get('bytes_out', 0) / 1e6:.1f} MB) from {c.get('files_in')} "
        f"standard-library files; splits: {_counts(c.get('splits', {}))}",
        f"- Tokenizer: {summary['plan']['vocab_size']} tokens, "
        f"{_fmt(summary['tokenizer'].get('bytes_per_token'))} bytes/token on validation",
        f"- Model: {summary['model']['preset']}, {summary['model']['parameters']:,} parameters",
        f"- Training: {t['step']} steps, {t['tokens']:,} tokens in {t['train_seconds']:.0f} s "
        f"({t['tokens_per_s']:.0f} tokens/s, MFU {t['mfu']:.1%}); validation loss "
        f"{_fmt(t['initial_val_loss'])} → {_fmt(t['val_loss'])}",
        "",
        "| metric | untrained | trained |",
        "|---|---|---|",
        *(f"| {r['metric']} | {_fmt(r['untrained'])} | {_fmt(r['trained'])} |" for r in rows),
        "",
        "HumanEval pass@k near zero is the honest expectation for a model of this size trained for minutes",
        "on one corpus; perplexity, infilling and next-line similarity and valid functions are what move at this scale.",
        "",
        "## Continue",
        "",
        *(f"- {title}: `{cmd}`" for title, cmd in continue_commands(summary)),
    ]
    return "\n".join(lines)


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1000px;margin:2em auto;color:#222;padding:0 1em}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
th{background:#f4f4f4}.up{color:#1a7f37;font-weight:600}.down{color:#b42318;font-weight:600}
pre{background:#f6f8fa;padding:8px;overflow-x:auto;font-size:12px;border-radius:4px;margin:.2em 0}
code{background:#f6f8fa;padding:1px 4px;border-radius:3px}.note{color:#555;font-size:.95em}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1em}img{max-width:100%}
"""


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def report_html(summary: dict[str, Any], rows: list[dict[str, Any]], loss_png: str | None) -> str:
    e = html.escape
    t = summary["training"]
    c = summary["corpus"]
    tok = summary["tokenizer"]
    built = _table(["stage", "result"], [
        ["corpus", e(f"{c.get('files_out')} files kept of {c.get('files_in')} read "
                     f"({c.get('bytes_out', 0) / 1e6:.1f} MB); rejected: {_counts(c.get('rejected', {}))}; duplicates: "
                     f"{_counts(c.get('duplicates', {}))}; decontaminated: {c.get('decontaminated')}; "
                     f"splits: {_counts(c.get('splits', {}))}")],
        ["tokenizer", e(f"byte-level BPE, {summary['plan']['vocab_size']} tokens, "
                        f"{_fmt(tok.get('bytes_per_token'))} bytes/token on validation, "
                        f"{tok.get('roundtrip_failures', 0)} round-trip failures")],
        ["model", e(f"{summary['model']['preset']} (Llama-style decoder), {summary['model']['parameters']:,} parameters")],
        ["training", e(f"CLM + {summary['fim_rate']:.0%} FIM, {t['step']} steps, {t['tokens']:,} tokens "
                       f"in {t['train_seconds']:.0f} s, {t['tokens_per_s']:.0f} tokens/s, MFU {t['mfu']:.1%} "
                       f"of a measured {t['peak_flops'] / 1e9:.0f} GFLOP/s peak; validation loss "
                       f"{_fmt(t['initial_val_loss'])} → {_fmt(t['val_loss'])} nats")],
    ])
    metric_table = _table(["metric", "untrained", "trained", ""], [
        [e(r["metric"]), _fmt(r["untrained"]), f"<b>{_fmt(r['trained'])}</b>",
         "<span class=up>better</span>" if r["improved"] else "<span class=down>worse</span>"
         if r["improved"] is False else "same"]
        for r in rows
    ])
    shown = examples(summary)
    example_html = []
    for row in shown.get("humaneval-greedy", []):
        example_html.append(f"<h4>{e(row['task_id'])} ({e(row['status'])})</h4><pre>{e(row['prompt'])}"
                            f"<b style='color:#3b7dd8'>{e(row['completion'])}</b></pre>")
    for row in shown.get("infill", []):
        example_html.append(
            f"<h4>infill {e(row['task_id'])}</h4><pre>{e(row['prompt'][-250:])}<b style='color:#3b7dd8'>"
            f"{e(row['completion'])}</b><span style='color:#888'>{e(row['suffix'])}</span></pre>"
            f"<div class=note>expected middle: <code>{e(row['truth'])}</code></div>")
    commands = "".join(f"<p>{e(title)}:</p><pre>{e(cmd)}</pre>" for title, cmd in continue_commands(summary))
    stage_rows = [[e(name), "reused" if s.get("reused") else f"{s['seconds']:.1f} s"]
                  for name, s in summary["stages"].items()]
    loss_img = f"<img alt='loss curves' src='data:image/png;base64,{loss_png}'>" if loss_png else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>codelm quickstart</title>
<style>{STYLE}</style></head><body>
<h1>codelm quickstart</h1>
<p class=sub>From the running Python's standard library to a trained, evaluated, servable code model,
{e(run_time(summary))}.</p>
<h2>What was built</h2>{built}
<h2>Training</h2>{loss_img}
<h2>Trained vs untrained</h2>
<p class=note>The same architecture and seed before training, evaluated identically.</p>
{metric_table}
<img alt="metrics" src="data:image/png;base64,{metrics_plot(rows)}">
<p class=note>HumanEval pass@k near zero is the honest expectation: a model of a few million parameters trained
for minutes on one corpus does not solve programming problems. Perplexity, infilling and next-line similarity and the
share of valid functions (greedy completions that add code and still parse) are what move at this scale. Executions ran in the sandbox ({e(str(summary['evaluations']['trained']['humaneval'].get('tier')))} tier).</p>
<h2>Completions by the trained model</h2><p class=note>Greedy HumanEval completions (blue) after their prompts, and single-line infillings between prefix and suffix (grey).</p>{''.join(example_html) or '<p>none</p>'}
<h2>Continue</h2>{commands}
<h2>Stages</h2>{_table(["stage", "time"], stage_rows)}
<p class=note>Each stage is reused on the next run when its inputs are unchanged; <code>--fresh</code> redoes
everything. Files: {e(summary['out'])}</p>
</body></html>
"""


def write_report(summary: dict[str, Any], run: RunDir) -> None:
    rows = metric_rows(summary["metrics"])
    loss_file = Path(summary["train_run_dir"]) / "loss.png"
    loss_png = base64.b64encode(loss_file.read_bytes()).decode() if loss_file.is_file() else None
    atomic_write_text(run.file("report.html"), report_html(summary, rows, loss_png))
    run.write_summary(summary_markdown(summary, rows))
