"""Build models from a `ModelConfig`; count parameters without allocating.

`build_model` returns a plain `transformers.PreTrainedModel`: save it with
`save_pretrained` and it loads with the Auto class in
`FAMILIES[family].auto_classes[head]`, no codelm needed.

Initialisation (seeded, on CPU so the same seed gives the same weights on
every machine): transformers' own `_init_weights` runs inside the
constructor; for the decoder we then rescale the residual output
projections (GPT-2). See `families.py` for each family's scheme.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codelm.errors import ConfigError
from codelm.models.config import HEAD_NAMES, ModelConfig
from codelm.models.families import FAMILIES

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel

DEFAULT_VOCAB_SIZE = 32768  # the vocabulary `codelm models` counts with (a 32k code BPE)


def padded_vocab_size(vocab_size: int, multiple: int) -> int:
    """Embedding rows: the vocabulary rounded up (nanoGPT pads 50257 to 50304 for faster matmuls)."""
    return (vocab_size + multiple - 1) // multiple * multiple


def _head_kwargs(head: str, num_labels: int, id2label: dict[int, str] | None) -> dict[str, Any]:
    if head not in HEAD_NAMES:
        raise ConfigError(f"unknown head '{head}'; known: {', '.join(HEAD_NAMES)}")
    if head not in ("sequence_classification", "token_classification"):
        return {}
    if id2label is not None:
        num_labels = len(id2label)
    if num_labels < 1:
        raise ConfigError(f"num_labels must be at least 1, got {num_labels}")
    labels = id2label or {i: f"LABEL_{i}" for i in range(num_labels)}
    return {
        "num_labels": num_labels,
        "id2label": {int(i): str(v) for i, v in labels.items()},
        "label2id": {str(v): int(i) for i, v in labels.items()},
    }


def hf_config(
    cfg: ModelConfig,
    vocab_size: int,
    *,
    head: str = "lm",
    num_labels: int = 2,
    id2label: dict[int, str] | None = None,
) -> PretrainedConfig:
    """The transformers config for `cfg` (resolved here) with our special-token ids."""
    m = cfg.resolve()
    spec = FAMILIES.get(str(m.family), key="model.family")
    if vocab_size < 1:
        raise ConfigError(f"vocab_size must be positive, got {vocab_size}")
    config = spec.make_config(
        m, padded_vocab_size(vocab_size, m.pad_vocab_to_multiple_of), **_head_kwargs(head, num_labels, id2label)
    )
    config._attn_implementation = m.attn_implementation
    config.architectures = [spec.classes[head]]
    return config


def _model_class(family: str, head: str) -> type:
    import transformers

    return getattr(transformers, FAMILIES.get(family).classes[head])


def build_model(
    cfg: ModelConfig,
    vocab_size: int,
    *,
    head: str = "lm",
    num_labels: int = 2,
    id2label: dict[int, str] | None = None,
    seed: int = 0,
    dtype: Any = None,
    device: Any = None,
) -> PreTrainedModel:
    """A freshly initialised transformers model for `cfg` and `head`.

    head: `lm` (causal LM / masked LM / seq2seq LM by family),
    `sequence_classification`, `token_classification`, or `embedding` (the
    bare encoder/decoder stack: pool it with `codelm.models.heads.pool`).
    Weights come from `seed` alone (global RNG state is left untouched).
    """
    import torch
    from transformers import GenerationConfig

    m = cfg.resolve()
    spec = FAMILIES.get(str(m.family), key="model.family")
    config = hf_config(m, vocab_size, head=head, num_labels=num_labels, id2label=id2label)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # Built on CPU: CPU RNG streams are the same everywhere, CUDA ones differ.
        with torch.device("cpu"):
            model = _model_class(spec.name, head)(config)  # transformers' _init_weights runs here
        spec.scale_residual(model, m)
    if head == "lm" and spec.generation:
        model.generation_config = GenerationConfig(**spec.generation)
    model.eval()  # like from_pretrained; the trainer calls .train()
    if dtype is not None or device is not None:
        model.to(device=device, dtype=dtype)
    return model


def meta_model(cfg: ModelConfig, vocab_size: int = DEFAULT_VOCAB_SIZE, *, head: str = "lm", num_labels: int = 2) -> Any:
    """The model on the meta device: shapes only, no memory, no init cost."""
    import torch

    m = cfg.resolve()
    config = hf_config(m, vocab_size, head=head, num_labels=num_labels)
    with torch.device("meta"):
        return _model_class(str(m.family), head)(config)


def count_parameters(model: Any) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def parameter_count(
    cfg: ModelConfig, vocab_size: int = DEFAULT_VOCAB_SIZE, *, head: str = "lm", num_labels: int = 2
) -> int:
    """Exact parameter count of the built model, from a meta-device build."""
    return count_parameters(meta_model(cfg, vocab_size, head=head, num_labels=num_labels))


GIB = 1024**3


@dataclass(frozen=True)
class ModelInfo:
    """What `codelm models` shows for one config."""

    name: str
    family: str
    description: str
    parameters: int
    embedding_parameters: int
    layers: int
    hidden_size: int
    heads: int
    kv_heads: int | None
    vocab_size: int

    @property
    def fp32_gib(self) -> float:
        """Weights alone in fp32 (4 bytes each)."""
        return self.parameters * 4 / GIB

    @property
    def bf16_gib(self) -> float:
        """Weights alone in bf16 (2 bytes each): what inference needs before activations/KV cache."""
        return self.parameters * 2 / GIB

    @property
    def adamw_gib(self) -> float:
        """Training state with AdamW, fp32 master weights: weights 4 + grads 4 + two moments 8 = 16 B/param.

        bf16 mixed precision needs the same 16 B/param (bf16 copies of weights
        and grads replace nothing); activations come on top and depend on the
        batch (see `codelm plan`).
        """
        return self.parameters * 16 / GIB

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "parameters": self.parameters,
            "embedding_parameters": self.embedding_parameters,
            "non_embedding_parameters": self.parameters - self.embedding_parameters,
            "layers": self.layers,
            "hidden_size": self.hidden_size,
            "heads": self.heads,
            "kv_heads": self.kv_heads,
            "vocab_size": self.vocab_size,
            "fp32_gib": round(self.fp32_gib, 4),
            "bf16_gib": round(self.bf16_gib, 4),
            "adamw_train_gib": round(self.adamw_gib, 3),
        }


def model_info(cfg: ModelConfig, vocab_size: int = DEFAULT_VOCAB_SIZE, name: str = "", description: str = "") -> ModelInfo:
    """Exact sizes of `cfg` (meta-device build)."""
    m = cfg.resolve()
    model = meta_model(m, vocab_size)
    embed = model.get_input_embeddings().weight
    embedding = embed.numel()
    out = model.get_output_embeddings()
    if out is not None and out.weight is not embed:
        embedding += out.weight.numel()
    return ModelInfo(
        name=name or (m.preset or str(m.family)),
        family=str(m.family),
        description=description,
        parameters=count_parameters(model),
        embedding_parameters=embedding,
        layers=int(m.num_layers) + int(m.num_decoder_layers or 0),
        hidden_size=int(m.hidden_size),
        heads=int(m.num_heads),
        kv_heads=m.num_kv_heads,
        vocab_size=padded_vocab_size(vocab_size, m.pad_vocab_to_multiple_of),
    )


def preset_infos(vocab_size: int = DEFAULT_VOCAB_SIZE, family: str | None = None) -> list[ModelInfo]:
    """`model_info` for every shipped model preset, sorted by family then size."""
    from codelm.presets import list_presets

    infos = []
    for p in list_presets("model"):
        cfg = ModelConfig(preset=p.name)
        resolved = cfg.resolve()
        if family is not None and resolved.family != family:
            continue
        infos.append(model_info(cfg, vocab_size, name=p.name, description=p.description))
    order = {name: i for i, name in enumerate(("decoder", "encoder", "encdec"))}
    return sorted(infos, key=lambda i: (order[i.family], i.parameters))
