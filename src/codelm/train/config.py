"""`TrainConfig`: everything one training run needs, validated up front.

The same object drives `codelm train CONFIG` and `codelm.train.train(cfg)`.
Layers: preset < file < `--set` (see `codelm.config.resolve_config`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from codelm.config import Section
from codelm.models.config import ModelConfig

Precision = Literal["fp32", "bf16", "fp16"]


class ModelSection(ModelConfig):
    """Which model to train.

    Three sources, exactly one: a codelm architecture (`preset` and/or
    `family` plus any `codelm models` key as an override, e.g.
    `{preset: decoder-tiny, num_layers: 2}`); `path`, an existing HF
    checkpoint directory to continue pretraining; or `hf`, a raw
    transformers config (`model_type` plus its fields) for architectures
    codelm has no family for.
    """

    path: str | None = Field(None, description="Existing HF checkpoint directory: continue pretraining it.")
    hf: dict[str, Any] = Field(
        default_factory=dict, description="Raw transformers config: model_type plus fields (AutoConfig.for_model)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> ModelSection:
        codelm_arch = self.preset is not None or self.family is not None
        sources = [codelm_arch, self.path is not None, bool(self.hf)]
        if sum(sources) != 1:
            raise ValueError("set exactly one of model.preset (or model.family), model.path or model.hf")
        if self.hf and "model_type" not in self.hf:
            raise ValueError("model.hf needs a model_type (e.g. llama, gpt2, t5, bert)")
        return self

    def architecture(self) -> ModelConfig:
        """The codelm architecture part (preset, family, overrides) as a plain ModelConfig."""
        keys = set(ModelConfig.model_fields) & self.model_fields_set
        return ModelConfig(**{k: getattr(self, k) for k in keys})


class DataSection(Section):
    corpus: str = Field(description="Corpus directory (`codelm data build` output: <split>/part-*.parquet).")
    train_split: str = "train"
    validation_split: str | None = Field("validation", description="Split for evaluation; null disables it.")
    seq_len: int = Field(256, ge=8, description="Tokens per training window.")
    shuffle: bool = Field(True, description="Per-epoch order of row groups and of rows inside each (seeded).")
    shuffle_buffer: int = Field(
        1024, ge=0, description="Examples drawn at random from a pool of this many (0: in order); validation "
        "batches are drawn the same way so they span many files.",
    )
    prefetch: int = Field(4, ge=1, description="Optimizer steps of batches the background worker keeps ready.")
    rank_split: Literal["slice", "shard"] = Field(
        "slice",
        description="slice: every rank reads the global stream and takes its part (N ranks × B == 1 rank × N·B, "
        "exactly); shard: rank r reads documents r, r+N, ... (no redundant tokenisation, different batches).",
    )


class OptimSection(Section):
    lr: float = Field(3e-4, gt=0)
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.1, ge=0, description="Not applied to biases, norms and embeddings.")
    grad_clip: float | None = Field(1.0, gt=0, description="Max global gradient norm; null disables clipping.")
    implementation: Literal["auto", "fused", "foreach", "loop"] = Field(
        "auto", description="AdamW kernel: auto = fused where the device has it, else foreach."
    )


class ScheduleSection(Section):
    kind: Literal["cosine", "linear", "wsd", "constant"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Final learning rate as a fraction of optim.lr.")
    decay_fraction: float = Field(0.2, gt=0, le=1, description="wsd: fraction of steps spent decaying at the end.")


class LoopSection(Section):
    max_steps: int = Field(1000, ge=1, description="Optimizer steps.")
    max_minutes: float | None = Field(None, gt=0, description="Stop (with a checkpoint) after this much training time.")
    micro_batch_size: int = Field(8, ge=1, description="Examples per forward pass, per process.")
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    precision: Precision = Field("fp32", description="fp32; bf16 autocast (CPU and GPU); fp16 autocast + scaler (GPU).")
    gradient_checkpointing: bool = False
    compile: bool = Field(False, description="torch.compile the model.")
    compile_backend: str = "inductor"
    num_threads: int | None = Field(None, ge=1, description="torch intra-op threads (CPU); default: torch's choice.")


class EvalSection(Section):
    every: int = Field(100, ge=0, description="Validate every N steps (0: only at the start and the end).")
    batches: int = Field(4, ge=1, description="Validation batches per objective (the same ones every time).")
    batch_size: int | None = Field(None, ge=1, description="Default: loop.micro_batch_size.")
    at_start: bool = Field(True, description="Validate before the first step (the initial loss).")
    early_stopping_patience: int | None = Field(None, ge=1, description="Stop after N evaluations without improvement.")
    min_delta: float = Field(0.0, ge=0, description="Smallest decrease of validation loss that counts as improvement.")


class CheckpointSection(Section):
    every: int = Field(500, ge=0, description="Save every N steps (0: only at the end / on signal / on best).")
    keep_last: int = Field(2, ge=1, description="Periodic checkpoints kept (the best one is kept besides).")
    save_best: bool = Field(True, description="Save a checkpoint whenever validation loss improves.")
    on_signal: bool = Field(True, description="On SIGTERM/SIGINT finish the step, save, and stop.")


class LoggingSection(Section):
    every: int = Field(10, ge=1, description="Steps between progress/TensorBoard/MLflow updates (log.jsonl gets every step).")
    tensorboard: bool = False
    mlflow: bool = Field(False, description="MLflow; by default a local file store in <run>/mlruns.")
    mlflow_uri: str | None = Field(None, description="MLflow tracking URI instead of the run-local store.")
    plots: bool = Field(True, description="loss.png at the end.")


class PerfSection(Section):
    peak_flops: float | None = Field(None, gt=0, description="Peak FLOP/s per process for MFU; default: measured.")
    probe_seconds: float = Field(0.5, gt=0, description="Duration of the start-up matmul probe.")


class MemorySection(Section):
    check: bool = Field(True, description="Estimate memory before training and refuse when it cannot fit.")
    limit_gib: float | None = Field(None, gt=0, description="Memory to fit in; default: the device's (or free RAM).")


class TrainConfig(Section):
    """A training run: model, tokenizer, data, objectives, optimisation, logging."""

    description: str = ""
    seed: int = 0
    out: str | None = Field(None, description="Run directory; default runs/train-<time>-<id>. --resume needs it.")
    model: ModelSection
    tokenizer: str | None = Field(None, description="Tokenizer directory; default: model.path.")
    data: DataSection
    objectives: list[dict[str, Any]] = Field(
        default_factory=lambda: [{"name": "clm"}],
        min_length=1,
        description="Objective specs (name, weight, parameters); one objective per optimizer step, by weight.",
    )
    optim: OptimSection = Field(default_factory=OptimSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    loop: LoopSection = Field(default_factory=LoopSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    perf: PerfSection = Field(default_factory=PerfSection)
    memory: MemorySection = Field(default_factory=MemorySection)

    @model_validator(mode="after")
    def _tokenizer_known(self) -> TrainConfig:
        if self.tokenizer is None and self.model.path is None:
            raise ValueError("tokenizer is required (a tokenizer directory) unless model.path names a checkpoint")
        return self


# Keys whose change on --resume would make the continuation a different run.
RESUME_FIXED_KEYS = ("seed", "model", "tokenizer", "data", "objectives", "loop.micro_batch_size", "loop.grad_accum")
