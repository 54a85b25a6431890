"""`QuickstartConfig` and how a time budget becomes stage sizes.

The quickstart is the main job a new user runs first (`make demo`): it must
finish inside its budget on a 2-core laptop. Every stage size below is a
function of `minutes`, chosen from timings measured on such a machine
(docs/quickstart.md lists them), and each can be overridden.
"""

from __future__ import annotations

from pydantic import Field

from codelm.config import Section


class QuickstartConfig(Section):
    """The whole pipeline on embedded defaults: stdlib corpus → tiny decoder → evaluation."""

    out: str = Field("runs/quickstart", description="Directory for every stage's output and the report.")
    minutes: float = Field(10.0, ge=0.5, le=24 * 60, description="Time budget for the whole pipeline.")
    fresh: bool = Field(False, description="Redo every stage even when its inputs are unchanged.")
    seed: int = 0
    workers: int | None = Field(None, ge=0, description="Corpus-builder processes (default: one per CPU).")
    # Sizes derived from `minutes` unless set.
    max_files: int | None = Field(None, ge=10, description="Standard-library files to read (default: all when minutes >= 5).")
    vocab_size: int | None = Field(None, ge=373, description="Tokenizer vocabulary (default 8192, 4096 below 5 minutes).")
    train_minutes: float | None = Field(None, gt=0, description="Training time (default: 60% of the budget).")
    model_preset: str = Field("decoder-tiny", description="Model preset to pretrain (codelm models).")
    seq_len: int = Field(256, ge=32)
    fim_rate: float = Field(0.5, ge=0, le=1, description="Share of documents in FIM order (StarCoder: 0.5).")
    humaneval_problems: int | None = Field(None, ge=1, le=164, description="HumanEval problems for pass@k.")
    samples_per_problem: int = Field(10, ge=1, description="Samples per HumanEval problem (n for pass@k).")
    infill_problems: int | None = Field(None, ge=1, le=164, description="HumanEval single-line infilling problems.")
    repo_files: int | None = Field(None, ge=1, description="Held-out files for next-line completion.")
    perplexity_documents: int | None = Field(None, ge=1, description="Validation documents for perplexity.")
    max_new_tokens: int | None = Field(None, ge=8, description="Token budget per HumanEval sample.")


def _clamp(value: float, low: int, high: int) -> int:
    return int(max(low, min(high, round(value))))


class Plan(Section):
    """Concrete stage sizes for one run (saved with the report)."""

    max_files: int | None
    vocab_size: int
    train_minutes: float
    humaneval_problems: int
    infill_problems: int
    repo_files: int
    perplexity_documents: int
    max_new_tokens: int


def plan(cfg: QuickstartConfig) -> Plan:
    """Stage sizes for the budget: training gets about half, evaluation (of two models) the rest."""
    m = cfg.minutes
    full = m >= 5
    return Plan(
        max_files=cfg.max_files if cfg.max_files is not None else (None if full else _clamp(250 * m, 150, 1000)),
        vocab_size=cfg.vocab_size or (8192 if full else 4096),
        train_minutes=cfg.train_minutes or round(0.6 * m if full else 0.35 * m, 2),
        humaneval_problems=cfg.humaneval_problems or _clamp(2 * m, 4, 164),
        infill_problems=cfg.infill_problems or _clamp(8 * m, 8, 164),
        repo_files=cfg.repo_files or _clamp(10 * m, 10, 200),
        perplexity_documents=cfg.perplexity_documents or _clamp(20 * m, 16, 400),
        max_new_tokens=cfg.max_new_tokens or (96 if full else 64),
    )
