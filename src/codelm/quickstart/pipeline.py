"""The quickstart pipeline: stdlib corpus → tokenizer → tiny decoder (CLM + FIM) → evaluation → report.

Each stage writes into its own directory under `out/` and records a
fingerprint of its inputs (config values and the fingerprints of the stages
it reads) in `stage.json`. A stage whose fingerprint is unchanged is reused,
so a second run only redoes what changed; `fresh` redoes everything.

The untrained initialisation (same seed, same architecture) is evaluated
next to the trained model on every metric, so the report shows what
pretraining bought.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codelm import __version__
from codelm.quickstart.config import Plan, QuickstartConfig, plan
from codelm.runs import RunDir, atomic_write_text

Info = Callable[[str], None]

# Files of a checkpoint that make up the model a user loads (not the optimizer state).
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


def fingerprint(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Stages:
    """Runs named stages, reusing one when its inputs' fingerprint is unchanged."""

    def __init__(self, root: Path, fresh: bool, info: Info) -> None:
        self.root = root
        self.fresh = fresh
        self.info = info
        self.timings: dict[str, dict[str, Any]] = {}

    def run(self, name: str, inputs: dict[str, Any], work: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        """`work(stage_dir)` returns the stage's result (JSON-able); returns it with its fingerprint."""
        stage_dir = self.root / name
        marker = stage_dir / "stage.json"
        fp = fingerprint(inputs)
        if not self.fresh and marker.is_file():
            saved = json.loads(marker.read_text())
            if saved.get("fingerprint") == fp:
                self.info(f"[green]reused[/green] {name} (inputs unchanged)")
                self.timings[name] = {"seconds": 0.0, "reused": True, "first_seconds": saved["seconds"]}
                return {**saved["result"], "fingerprint": fp}
        if stage_dir.exists():
            shutil.rmtree(stage_dir)
        stage_dir.mkdir(parents=True)
        self.info(f"[bold]{name}[/bold] ...")
        started = time.perf_counter()
        result = work(stage_dir)
        seconds = round(time.perf_counter() - started, 2)
        atomic_write_text(marker, json.dumps(
            {"fingerprint": fp, "inputs": inputs, "result": result, "seconds": seconds}, indent=2, default=str) + "\n")
        self.timings[name] = {"seconds": seconds, "reused": False}
        self.info(f"{name} done in {seconds:.1f} s")
        return {**result, "fingerprint": fp}


# ---- stages ----------------------------------------------------------------------------------


def data_config(cfg: QuickstartConfig, p: Plan) -> Any:
    from codelm.data.config import DataConfig

    source: dict[str, Any] = {"kind": "stdlib"}
    if p.max_files is not None:
        source["max_files"] = p.max_files
    return DataConfig(sources=[source], seed=cfg.seed)


def build_corpus_stage(data_cfg: Any, workers: int | None, stage_dir: Path, info: Info) -> dict[str, Any]:
    from codelm.data.pipeline import build_corpus

    manifest = build_corpus(data_cfg, stage_dir, workers=workers, info=info)
    keys = ("files_in", "files_out", "bytes_out", "rejected", "languages", "licenses", "duplicates",
            "decontaminated", "splits")
    return {"dir": str(stage_dir), "manifest": {k: manifest[k] for k in keys if k in manifest}}


def tokenizer_config(p: Plan, seed: int) -> Any:
    from codelm.tokenizer.train import TokenizerConfig

    # BPE merges saturate long before the whole corpus is read; a seeded sample bounds the time.
    return TokenizerConfig(vocab_size=p.vocab_size, max_train_bytes=8 << 20, seed=seed)


def tokenizer_stage(corpus_dir: str, tok_cfg: Any, stage_dir: Path) -> dict[str, Any]:
    from codelm.tokenizer.train import train_tokenizer_from_corpus

    _, report = train_tokenizer_from_corpus(corpus_dir, tok_cfg.vocab_size, stage_dir, config=tok_cfg)
    return {"dir": str(stage_dir), "report": report.to_dict()}


def train_config(cfg: QuickstartConfig, p: Plan, corpus_dir: str, tokenizer_dir: str, out: Path) -> Any:
    """The training run: the shipped CLM + FIM preset, sized to the budget."""
    from codelm.config import resolve_config
    from codelm.train.config import TrainConfig

    overrides = [
        f"seed={cfg.seed}",
        f"out={out}",
        f"model.preset={cfg.model_preset}",
        f"tokenizer={tokenizer_dir}",
        f"data.corpus={corpus_dir}",
        f"data.seq_len={cfg.seq_len}",
        f"loop.max_minutes={p.train_minutes}",
        # Replaced in the train stage by the steps that fit the budget (steps_in_budget);
        # kept constant here so the stage's fingerprint does not depend on a timing.
        "loop.max_steps=1000000",
        "schedule.kind=wsd",  # warmup-stable-decay: holds the peak rate, decays over the last 20% of steps
        "eval.every=100",
        "eval.batches=4",
        "checkpoint.every=0",
        "checkpoint.save_best=false",
    ]
    config = resolve_config(TrainConfig, None, overrides, preset="train/decoder-tiny-clm-fim")
    objectives = [dict(o) for o in config.objectives]
    for o in objectives:
        if o["name"] == "fim":
            o["fim_rate"] = cfg.fim_rate
    return config.model_copy(update={"objectives": objectives})


def init_model_stage(train_cfg: Any, stage_dir: Path) -> dict[str, Any]:
    """The untrained initialisation the trainer starts from (same plan, same seed)."""
    from codelm.train.model import load_tokenizer, plan_model

    tokenizer = load_tokenizer(train_cfg.tokenizer)
    model = plan_model(train_cfg.model, tokenizer).build(train_cfg.seed)
    model.save_pretrained(str(stage_dir))
    tokenizer.save_pretrained(str(stage_dir))
    return {"dir": str(stage_dir), "parameters": sum(t.numel() for t in model.parameters())}


# Share of the timed step rate the run is planned at: evaluation every 100
# steps and waits for data take the rest, and the time cap stops the run anyway.
STEP_RATE_MARGIN = 0.9


def steps_in_budget(train_cfg: Any) -> int:
    """Optimizer steps that fit `loop.max_minutes`, from timing a few steps of the same model.

    The trainer stops at `max_minutes` in any case, but the schedule needs a
    step count: with `max_steps` left huge, WSD would never leave its stable
    phase and the run would end without the decay that buys most of the loss.
    """
    import torch

    from codelm.train.model import load_tokenizer, plan_model

    tokenizer = load_tokenizer(train_cfg.tokenizer)
    model = plan_model(train_cfg.model, tokenizer).build(train_cfg.seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    shape = (train_cfg.loop.micro_batch_size, train_cfg.data.seq_len)
    batch = torch.randint(0, len(tokenizer), shape, generator=torch.Generator().manual_seed(0))

    def step() -> None:
        for _ in range(train_cfg.loop.grad_accum):
            model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(3):  # first steps allocate and pick kernels
        step()
    timed = 8
    started = time.perf_counter()
    for _ in range(timed):
        step()
    seconds_per_step = (time.perf_counter() - started) / timed
    return max(1, int(STEP_RATE_MARGIN * train_cfg.loop.max_minutes * 60 / seconds_per_step))


def train_stage(train_cfg: Any, stage_dir: Path, info: Info) -> dict[str, Any]:
    from codelm.train import train

    steps = steps_in_budget(train_cfg)
    info(f"  {steps} steps fit {train_cfg.loop.max_minutes} minutes (timed on this machine)")
    loop = train_cfg.loop.model_copy(update={"max_steps": steps})
    result = train(train_cfg.model_copy(update={"loop": loop}), out=stage_dir / "run", info=info)
    model_dir = stage_dir / "model"
    model_dir.mkdir()
    source = Path(result.last_checkpoint)
    for name in MODEL_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, model_dir / name)
    return {"dir": str(model_dir), "run_dir": str(stage_dir / "run"), "result": result.to_dict()}


def materialise_split(corpus_dir: str, split: str, target: Path) -> int:
    """Write a corpus split back out as files, for the repository next-line task."""
    from codelm.data.corpus import iter_documents

    count = 0
    for doc in iter_documents(corpus_dir, split, columns=("path", "content")):
        path = target / doc["path"].lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc["content"], encoding="utf-8")
        count += 1
    return count


def eval_tasks(p: Plan, corpus_dir: str, heldout_dir: str, seq_len: int, seed: int) -> dict[str, dict[str, Any]]:
    """EvalConfig mappings per task (model and out filled in per run)."""
    generation = {"batch_size": 16}
    return {
        "perplexity": {
            "task": "perplexity",
            "task_options": {"path": corpus_dir, "split": "validation", "max_documents": p.perplexity_documents,
                             "window": seq_len, "max_document_tokens": 2 * seq_len},
        },
        "infill": {
            "task": "humaneval-infill-single",
            "task_options": {"limit": p.infill_problems, "max_per_problem": 1},
            "generation": {**generation, "temperature": 0.0, "max_new_tokens": 48},
            "metrics": ["edit-sim"],
        },
        "repo": {
            "task": "repo-next-line",
            "task_options": {"path": heldout_dir, "language": "python", "max_files": p.repo_files,
                             "lines_per_file": 1},
            "generation": {**generation, "temperature": 0.0, "max_new_tokens": 32},
        },
        "humaneval-greedy": {
            # Greedy completions: the model's best guess, for syntax validity and greedy pass@1.
            "task": "humaneval",
            "task_options": {"limit": p.humaneval_problems},
            "generation": {**generation, "n": 1, "temperature": 0.0, "max_new_tokens": p.max_new_tokens},
            "metrics": ["syntax-validity"],  # of prompt + completion; an empty completion counts as invalid
        },
        "humaneval": {
            "task": "humaneval",
            "k": [1, 10],
            "task_options": {"limit": p.humaneval_problems},
            # Chen et al. (2021) sample at T=0.8 for pass@k with k > 1.
            "generation": {**generation, "n": 10, "temperature": 0.8, "top_p": 0.95,
                           "max_new_tokens": p.max_new_tokens},
            "metrics": ["syntax-validity"],
        },
    }


def eval_config(spec: dict[str, Any], model_dir: str, out: Path, seed: int, samples_per_problem: int) -> Any:
    """The EvalConfig of one task of `eval_tasks` for one model."""
    from codelm.eval.config import EvalConfig

    spec = json.loads(json.dumps(spec))
    if spec.get("k"):  # the sampled pass@k run: n samples, k <= n
        spec["generation"]["n"] = samples_per_problem
        spec["k"] = [k for k in spec["k"] if k <= samples_per_problem]
    return EvalConfig.model_validate({**spec, "model": model_dir, "out": str(out), "seed": seed,
                                      "execution": {"cache": False}})


def evaluate_model(model_dir: str, tasks: dict[str, dict[str, Any]], stage_dir: Path, seed: int,
                   samples_per_problem: int, sandbox: Any, info: Info) -> dict[str, Any]:
    from codelm.eval.harness import evaluate

    results: dict[str, Any] = {}
    for name, spec in tasks.items():
        cfg = eval_config(spec, model_dir, stage_dir / name, seed, samples_per_problem)
        info(f"  evaluating {name} ...")
        summary, _ = evaluate(cfg, sandbox=sandbox)
        results[name] = {"metrics": summary["metrics"], "statuses": summary.get("statuses", {}),
                         "samples": summary.get("samples"), "tier": summary["versions"].get("sandbox_tier"),
                         "dir": str(stage_dir / name)}
    return results


def headline_metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    """The flat metric table of one model's evaluation."""
    m = {name: r["metrics"] for name, r in evaluation.items()}
    table = {
        "validation perplexity": m["perplexity"].get("perplexity"),
        "infill exact match": m["infill"].get("exact_match"),
        "infill edit similarity": m["infill"].get("edit-sim"),
        "infill pass@1": m["infill"].get("pass@1"),
        "next-line exact match": m["repo"].get("exact_match"),
        "next-line edit similarity": m["repo"].get("edit_sim"),
        "HumanEval pass@1": m["humaneval"].get("pass@1"),
        "HumanEval pass@10": m["humaneval"].get("pass@10"),
        "HumanEval greedy pass@1": m["humaneval-greedy"].get("pass@1"),
        "valid functions (sampled)": m["humaneval"].get("syntax-validity"),
        "valid functions (greedy)": m["humaneval-greedy"].get("syntax-validity"),
    }
    return {k: v for k, v in table.items() if v is not None}


# ---- the whole run ---------------------------------------------------------------------------


def run_quickstart(cfg: QuickstartConfig, info: Info | None = None) -> dict[str, Any]:
    """Run (or reuse) every stage and write `report.html` and `summary.md` into `cfg.out`."""
    from codelm.eval.sandbox import Sandbox, SandboxConfig
    from codelm.quickstart.report import write_report

    say = info or (lambda message: None)
    started = time.perf_counter()
    root = Path(cfg.out)
    run = RunDir.at(root)
    run.save_config(cfg)
    p = plan(cfg)
    run.log("plan", **p.model_dump())
    stages = Stages(root, cfg.fresh, say)
    env = {"python": sys.version, "codelm": __version__}

    # Each fingerprint covers the stage's fully resolved config, so a changed
    # default in a new codelm version redoes the stage too.
    data_cfg = data_config(cfg, p)
    corpus = stages.run("corpus", {"data": data_cfg.model_dump(mode="json"), **env},
                        lambda d: build_corpus_stage(data_cfg, cfg.workers, d, say))
    tok_cfg = tokenizer_config(p, cfg.seed)
    tokenizer = stages.run("tokenizer", {"corpus": corpus["fingerprint"], "tokenizer": tok_cfg.model_dump(mode="json")},
                           lambda d: tokenizer_stage(corpus["dir"], tok_cfg, d))
    tcfg = train_config(cfg, p, corpus["dir"], tokenizer["dir"], root / "train" / "run")
    train_inputs = {"corpus": corpus["fingerprint"], "tokenizer": tokenizer["fingerprint"],
                    "train": tcfg.model_dump(mode="json", exclude={"out"})}
    init_inputs = {"tokenizer": tokenizer["fingerprint"], "model": train_inputs["train"]["model"], "seed": cfg.seed}
    init = stages.run("init-model", init_inputs, lambda d: init_model_stage(tcfg, d))
    trained = stages.run("train", train_inputs, lambda d: train_stage(tcfg, d, say))

    heldout = stages.run("heldout-files", {"corpus": corpus["fingerprint"]},
                         lambda d: {"dir": str(d), "files": materialise_split(corpus["dir"], "test", d)})
    tasks = eval_tasks(p, corpus["dir"], heldout["dir"], cfg.seq_len, cfg.seed)
    eval_inputs = {"tasks": {name: eval_config(spec, "", Path(), cfg.seed, cfg.samples_per_problem)
                             .model_dump(mode="json", exclude={"model", "out"}) for name, spec in tasks.items()},
                   "harness": __version__}
    with Sandbox(SandboxConfig()) as sandbox:
        evaluations = {}
        for label, model in (("init", init), ("trained", trained)):
            say(f"[bold]evaluate-{label}[/bold]: {model['dir']}")
            evaluations[label] = stages.run(
                f"eval-{label}", {**eval_inputs, "model": model["fingerprint"]},
                lambda d, model=model: {"tasks": evaluate_model(model["dir"], tasks, d, cfg.seed,
                                                                cfg.samples_per_problem, sandbox, say)})
    summary = {
        "out": str(root),
        "minutes_budget": cfg.minutes,
        "plan": p.model_dump(),
        "fim_rate": cfg.fim_rate,
        "corpus": corpus["manifest"],
        "tokenizer": tokenizer["report"],
        "model": {"preset": cfg.model_preset, "parameters": init["parameters"], "dir": trained["dir"]},
        "training": trained["result"],
        "train_run_dir": trained["run_dir"],
        "metrics": {label: headline_metrics(e["tasks"]) for label, e in evaluations.items()},
        "evaluations": {label: e["tasks"] for label, e in evaluations.items()},
        "stages": stages.timings,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_report(summary, run)
    run.write_json("summary.json", summary)
    run.log("done", seconds=summary["seconds"])
    return summary
