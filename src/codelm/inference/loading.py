"""Load a checkpoint directory for inference: family, dtype, int8, device.

A checkpoint is a plain HF model directory with its tokenizer saved beside
the weights (what `codelm train` writes, or any local HF checkpoint). The
family decides the decoding path:

| kind      | loaded with               | decoding |
|-----------|---------------------------|----------|
| `decoder` | `AutoModelForCausalLM`    | left-to-right with a KV cache |
| `encdec`  | `AutoModelForSeq2SeqLM`   | encoder once, decoder left-to-right with self- and cross-attention caches |
| `encoder` | `AutoModelForMaskedLM`    | iterative unmasking (masked-diffusion checkpoints) |

CPU speed options (`LoadConfig`): `bfloat16` halves the bytes every decode
step reads; `quantize: int8` swaps every `nn.Linear` for a dynamically
quantized one (weights int8, activations quantized per batch at run time),
which on x86 CPUs with VNNI/AVX-512 runs the matmuls that dominate decoding
about 2-3x faster. Both are reported by `LoadedModel.info()`.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codelm.errors import ConfigError, InputError
from codelm.inference.config import LoadConfig

KINDS = ("decoder", "encdec", "encoder")
# Contexts longer than this in tokenizer_config.json are HF's "no limit" sentinel (1e30).
_NO_LIMIT = 10**9


@dataclass
class LoadedModel:
    """A model ready for inference plus what the decoding loop needs to know."""

    model: Any  # transformers PreTrainedModel in eval mode
    tokenizer: Any  # transformers tokenizer
    kind: str  # decoder | encdec | encoder
    path: Path
    dtype: str
    quantize: str | None
    device: str
    max_model_len: int
    threads: int

    def info(self) -> dict[str, Any]:
        """What is active: reported by `codelm generate --json` and the server's /v1/models."""
        return {
            "model": str(self.path),
            "kind": self.kind,
            "architecture": type(self.model).__name__,
            "dtype": self.dtype,
            "quantize": self.quantize,
            "device": self.device,
            "threads": self.threads,
            "max_model_len": self.max_model_len,
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }


def detect_kind(config: Any) -> str:
    """decoder / encdec / encoder from a transformers config (architectures first, then model_type)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
    )

    archs = list(getattr(config, "architectures", None) or [])
    for arch in archs:
        if arch.endswith("ForConditionalGeneration") and getattr(
            config, "is_encoder_decoder", False
        ):
            return "encdec"
        if arch.endswith("ForCausalLM"):
            return "decoder"
        if arch.endswith("ForMaskedLM"):
            return "encoder"
    model_type = getattr(config, "model_type", "")
    if (
        getattr(config, "is_encoder_decoder", False)
        and model_type in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES
    ):
        return "encdec"
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "decoder"
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return "encoder"
    raise InputError(
        f"checkpoint architecture {archs or model_type!r} has no generation head; "
        "expected a causal LM, a seq2seq LM or a masked LM"
    )


def _max_model_len(config: Any, tokenizer: Any) -> int:
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < _NO_LIMIT:
        return limit
    # Relative-position models (T5) have no hard limit; 2048 is a generous default memory bound.
    return 2048


def check_model_dir(path: Path) -> None:
    """A one-line error for the usual mistakes (wrong directory, model without tokenizer)."""
    if not path.is_dir():
        raise InputError(
            f"model directory '{path}' does not exist; pass a directory written by `codelm train`"
        )
    if not (path / "config.json").is_file():
        raise InputError(
            f"'{path}' is not an HF model directory (no config.json); pass a checkpoint directory"
        )
    has_tokenizer = any(
        (path / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")
    )
    if not has_tokenizer:
        raise InputError(
            f"'{path}' has no tokenizer (tokenizer.json); save the tokenizer next to the model "
            "(tokenizer.save_pretrained(dir))"
        )


def quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantization of every `nn.Linear` (PyTorch eager `quantize_dynamic`).

    Weights are stored int8 with one scale per tensor; activations are
    quantized on the fly per call, so nothing needs calibrating. Embeddings
    and norms stay float32. (Per-channel weight scales were tried side by
    side in bench_generate.py: greedy agreement with fp32 was better on one
    checkpoint and worse on two, and decoding no faster, so the default
    stays.) torch marks `torch.ao.quantization` deprecated in favour of
    torchao, which is not a dependency; the eager path still ships and is
    what runs here, so its deprecation warnings are silenced.
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=False)


def load_model(cfg: LoadConfig) -> LoadedModel:
    """Load `cfg.model` with plain transformers Auto classes, then apply dtype/int8/device."""
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForMaskedLM,
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
    )

    if cfg.model is None:
        raise ConfigError("load.model is required: pass --model DIR (an HF checkpoint directory)")
    path = Path(cfg.model)
    check_model_dir(path)
    if cfg.quantize == "int8" and cfg.dtype != "float32":
        raise ConfigError(
            f"quantize int8 needs dtype float32 (got {cfg.dtype}); drop one of the two options"
        )
    if cfg.quantize == "int8" and not cfg.device.startswith("cpu"):
        raise ConfigError(
            f"quantize int8 runs on CPU only (device is {cfg.device}); use --device cpu or bfloat16"
        )
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        hf_config = AutoConfig.from_pretrained(str(path))
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise InputError(
            f"cannot read '{path / 'config.json'}': {str(exc).splitlines()[0]}"
        ) from None
    kind = detect_kind(hf_config)
    auto = {
        "decoder": AutoModelForCausalLM,
        "encdec": AutoModelForSeq2SeqLM,
        "encoder": AutoModelForMaskedLM,
    }[kind]
    dtype = getattr(torch, cfg.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # generation-config and tied-weight notices from from_pretrained
        model = auto.from_pretrained(str(path), dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    model.eval()
    try:
        model.to(cfg.device)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(
            f"device '{cfg.device}' is not usable here: {str(exc).splitlines()[0]}"
        ) from None
    if cfg.quantize == "int8":
        model = quantize_int8(model)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        kind=kind,
        path=path,
        dtype=cfg.dtype,
        quantize=cfg.quantize,
        device=cfg.device,
        max_model_len=_max_model_len(hf_config, tokenizer),
        threads=torch.get_num_threads(),
    )
