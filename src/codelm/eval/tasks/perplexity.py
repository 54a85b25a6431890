"""Perplexity of a local causal LM on a split of a codelm corpus (Parquet).

Documents are read with `codelm.data.corpus.iter_documents`. Each is scored
with a sliding window (`window` tokens, moving by `stride`; every token is
predicted once, with as much left context as the window allows), after a
start token (BOS, else EOS, as a document separator) so the first real
token is predicted too. The metric is exp(total NLL / total tokens), plus
bits per byte, which compares models with different tokenizers.
"""

from __future__ import annotations

import math

from codelm.errors import ConfigError
from codelm.eval.tasks import Problem, Task, register_task


def corpus_problems(root: str, split: str, max_documents: int | None) -> list[Problem]:
    from codelm.data.corpus import iter_documents

    problems = []
    for doc in iter_documents(root, split, columns=("repo", "path", "language", "content")):
        if not doc["content"]:
            continue
        problems.append(Problem(task_id=f"{doc['repo']}/{doc['path']}", prompt=doc["content"],
                                language=doc["language"] or "text"))
        if max_documents is not None and len(problems) >= max_documents:
            break
    return problems


def document_nll(model, tokenizer, text: str, window: int, stride: int | None = None,
                 max_tokens: int | None = None) -> tuple[float, int]:
    """(sum of NLL in nats, number of predicted tokens) of one document (its first `max_tokens` tokens)."""
    import torch

    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:max_tokens]
    if start is not None:
        ids = [start, *ids]
    if stride is not None and stride > window:
        raise ConfigError(f"task_options.stride ({stride}) must not exceed window ({window})")
    # Consecutive windows overlap by at least one token so every position after
    # the first is predicted exactly once, with up to `window - 1` tokens of context.
    stride = min(stride or window, window - 1)
    total, counted = 0.0, 0
    predicted = 1  # the next position that still needs a prediction
    begin = 0
    device = next(model.parameters()).device
    with torch.no_grad():
        while predicted < len(ids):
            end = min(begin + window, len(ids))
            chunk = torch.tensor([ids[begin:end]], device=device)  # (1, T)
            logits = model(input_ids=chunk).logits.float()  # (1, T, V)
            logprobs = torch.log_softmax(logits[0, :-1], dim=-1)  # row j predicts position begin + j + 1
            first = predicted - (begin + 1)  # rows before this were scored by an earlier window
            targets = chunk[0, 1 + first:]
            picked = logprobs[first:].gather(1, targets[:, None])[:, 0]
            total -= float(picked.sum())
            counted += int(picked.numel())
            predicted = end
            begin += stride
    if not math.isfinite(total):
        raise ValueError("non-finite NLL: the model produced inf/nan logits")
    return total, counted


def head_tokens(tokenizer, text: str, n: int) -> str:
    """The text the first `n` tokens cover (bits per byte then counts only those bytes)."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    if len(enc["input_ids"]) <= n:
        return text
    return text[: enc["offset_mapping"][n - 1][1]]


@register_task
class Perplexity(Task):
    name = "perplexity"
    description = "perplexity / bits per byte of a local model on a corpus split (task_options.path, split)"
    scoring = "perplexity"
    needs_path = True

    def load(self) -> list[Problem]:
        return corpus_problems(self.options.path, self.options.split, self.options.max_documents)


def evaluate_perplexity(task: Task, problems: list[Problem], cfg, run) -> dict:
    """Score every document (resumable: one results.jsonl line per document)."""
    import os
    import platform

    from codelm import __version__
    from codelm.eval.execution import HARNESS_VERSION
    from codelm.eval.harness import JsonlLog
    from codelm.eval.metrics import compute
    from codelm.progress import progress_bar

    if cfg.model is None or not os.path.isdir(cfg.model):
        raise ConfigError("the perplexity task scores a model: set --model to a local model directory")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(cfg.model)
    model = AutoModelForCausalLM.from_pretrained(cfg.model)
    model.eval()
    window = min(task.options.window, getattr(model.config, "max_position_embeddings", task.options.window))
    file = JsonlLog(run.file("results.jsonl"))
    done = {row["task_id"]: row for row in file.read()}
    cap = task.options.max_document_tokens
    with progress_bar("scoring documents", total=len(problems)) as bar:
        bar.advance(sum(1 for p in problems if p.task_id in done))
        for p in problems:
            if p.task_id in done:
                continue
            text = head_tokens(tokenizer, p.prompt, cap) if cap else p.prompt
            nll, tokens = document_nll(model, tokenizer, p.prompt, window, task.options.stride, cap)
            row = {"task_id": p.task_id, "nll": nll, "tokens": tokens, "bytes": len(text.encode("utf-8")),
                   "status": "scored", "passed": None}
            done[p.task_id] = row
            file.append([row])
            bar.advance(1)
    rows = [done[p.task_id] for p in problems if p.task_id in done]
    file.rewrite(rows)
    result = compute("perplexity", [(r["nll"], r["tokens"], r["bytes"]) for r in rows])
    return {
        "task": task.name,
        "model": cfg.model,
        "n": 1,
        "metrics": {"perplexity": result.score, "bits_per_byte": result.components["bits_per_byte"],
                    "nll_per_token": result.components["nll_per_token"]},
        "per_task": {r["task_id"]: {"n": 1, "perplexity": math.exp(r["nll"] / r["tokens"]) if r["tokens"] else None,
                                    "tokens": r["tokens"]} for r in rows},
        "versions": {"harness": HARNESS_VERSION, "codelm": __version__, "dataset": task.source(),
                     "dataset_hash": task.dataset_hash(), "sandbox_tier": None,
                     "host_python": platform.python_version()},
        "statuses": {"scored": len(rows)},
        "problems": {"total": len(problems), "attempted": len(rows), "without_samples": 0},
        "samples": len(rows),
        "tokens": result.components["tokens"],
        "window": window,
        "seed": cfg.seed,
        "timing": {},
    }
