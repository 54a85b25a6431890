"""Configs of generation (`GenerationConfig`) and serving (`ServeConfig`).

`GenerationConfig` is what the library, `codelm generate` and every server
endpoint resolve to, so one set of names and defaults serves all three.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from codelm.config import Section


class GenerationConfig(Section):
    """How to decode (kind `generate`). `temperature: 0` is greedy."""

    max_new_tokens: int = Field(128, ge=1, description="tokens to generate at most per completion")
    temperature: float = Field(
        0.0, ge=0.0, le=100.0, description="0 = greedy; >0 samples from softmax(logits/T)"
    )
    top_k: int = Field(0, ge=0, description="keep the k most likely tokens (0 = off)")
    top_p: float = Field(
        1.0, gt=0.0, le=1.0, description="nucleus: smallest set with probability >= p (1 = off)"
    )
    n: int = Field(1, ge=1, le=128, description="completions per prompt")
    num_beams: int = Field(1, ge=1, le=64, description="beam search width (1 = no beam search)")
    length_penalty: float = Field(
        1.0, description="beam score = sum(logprob) / length**length_penalty"
    )
    stop: list[str] = Field(
        default_factory=list, description="stop strings; the text ends before the first one"
    )
    stop_token_ids: list[int] = Field(
        default_factory=list, description="extra token ids that end a completion (EOS always does)"
    )
    ignore_eos: bool = Field(False, description="keep generating past EOS (benchmarks)")
    logprobs: int | None = Field(
        None,
        ge=0,
        le=20,
        description="per-token logprobs: None = off, 0 = chosen token, k = also top k",
    )
    seed: int = Field(0, description="sampling seed: the same seed gives the same samples")
    diffusion_steps: int = Field(
        8,
        ge=1,
        description="diffusion-trained encoders: unmasking rounds over the max_new_tokens positions",
    )

    @model_validator(mode="after")
    def _check(self) -> GenerationConfig:
        if self.num_beams > 1 and self.n > self.num_beams:
            raise ValueError(
                f"n ({self.n}) must be <= num_beams ({self.num_beams}) with beam search"
            )
        if self.num_beams > 1 and self.temperature > 0:
            raise ValueError("beam search is deterministic: set temperature 0 with num_beams > 1")
        if any(s == "" for s in self.stop):
            raise ValueError("stop strings must not be empty")
        return self

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


Dtype = Literal["float32", "bfloat16", "float16"]
Quantize = Literal["int8"]


class LoadConfig(Section):
    """How to load a checkpoint for inference."""

    model: Path | None = Field(None, description="HF model directory (model + tokenizer)")
    dtype: Dtype = Field("float32", description="weights/activations dtype; bfloat16 halves memory")
    quantize: Quantize | None = Field(
        None, description="int8: dynamic int8 quantization of Linear layers (CPU)"
    )
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:1, mps")
    threads: int | None = Field(
        None, ge=1, description="torch intra-op threads (None = torch default)"
    )


class ServeConfig(Section):
    """`codelm serve` (kind `serve`)."""

    load: LoadConfig = Field(default_factory=LoadConfig)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535, description="0 = pick a free port")
    engine: Literal["torch", "vllm"] = "torch"
    model_name: str | None = Field(
        None, description="id served in /v1/models (default: the directory name)"
    )
    max_batch_size: int = Field(16, ge=1, description="sequences decoded together in one step")
    max_queue: int = Field(
        64, ge=1, description="requests waiting beyond this answer 503 + Retry-After"
    )
    request_timeout_s: float = Field(
        120.0, gt=0, description="a request running longer ends with finish_reason 'length'"
    )
    max_body_bytes: int = Field(1 << 20, ge=1024, description="larger request bodies answer 413")
    max_tokens_default: int = Field(256, ge=1, description="max_tokens when a request gives none")
    max_model_len: int | None = Field(
        None, ge=1, description="context length (default: from the checkpoint)"
    )
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="vllm engine only")
