"""`ModelConfig`: a preset name plus optional overrides, resolved per family.

A config names a shipped preset (`presets/model/<name>.yaml`, e.g.
`decoder-small`) and may override any dimension; keys left unset come from
the preset, then from the family's defaults below. One vocabulary of key
names serves all three families (`hidden_size`, `num_layers`, ...); a key that
means nothing for a family (say `num_kv_heads` for T5) is an error rather
than silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from codelm.config import Section, validate
from codelm.errors import ConfigError

Family = Literal["decoder", "encoder", "encdec"]
Head = Literal["lm", "sequence_classification", "token_classification", "embedding"]
Pooling = Literal["mean", "cls", "last"]
FAMILY_NAMES: tuple[str, ...] = ("decoder", "encoder", "encdec")
HEAD_NAMES: tuple[str, ...] = ("lm", "sequence_classification", "token_classification", "embedding")

# Keys that exist only for some families; every other key applies to all.
_ONLY_FOR: dict[str, tuple[str, ...]] = {
    "num_kv_heads": ("decoder",),
    "max_position_embeddings": ("decoder", "encoder"),
    "rope_theta": ("decoder", "encoder"),
    "initializer_range": ("decoder", "encoder"),
    "head_dim": ("decoder", "encdec"),
    "local_attention": ("encoder",),
    "global_attn_every_n_layers": ("encoder",),
    "num_decoder_layers": ("encdec",),
    "relative_attention_num_buckets": ("encdec",),
    "relative_attention_max_distance": ("encdec",),
}

# Family defaults for keys a preset does not set. Sources: Llama (Touvron et
# al. 2023) for the decoder, ModernBERT (Warner et al. 2024) for the encoder,
# T5 (Raffel et al. 2020) for the encoder-decoder.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "decoder": {
        "max_position_embeddings": 2048,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "initializer_range": 0.02,
        "norm_eps": 1e-5,
        "dropout": 0.0,
        "pooling": "last",  # a causal model's last token is the only one that saw everything
    },
    "encoder": {
        "max_position_embeddings": 2048,
        "rope_theta": 160000.0,  # ModernBERT's global-attention theta (local layers keep 10000)
        "local_attention": 128,
        "global_attn_every_n_layers": 3,
        "tie_word_embeddings": True,
        "initializer_range": 0.02,
        "norm_eps": 1e-5,
        "dropout": 0.0,
        "pooling": "mean",  # our tokenizer adds no <cls>, so mean pooling is the safe default
    },
    "encdec": {
        "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128,
        "tie_word_embeddings": True,
        "norm_eps": 1e-6,
        "dropout": 0.0,
        "pooling": "mean",
    },
}


class ModelConfig(Section):
    """Model architecture (kind `model`). Set `preset`, or `family` and the dimensions."""

    preset: str | None = Field(None, description="shipped preset, e.g. decoder-small (see `codelm models`)")
    family: Family | None = Field(None, description="decoder (Llama), encoder (ModernBERT) or encdec (T5)")
    hidden_size: int | None = Field(None, ge=1)
    num_layers: int | None = Field(None, ge=1, description="layers (encdec: encoder layers)")
    num_heads: int | None = Field(None, ge=1)
    num_kv_heads: int | None = Field(None, ge=1, description="decoder: key/value heads (GQA; 1 = MQA)")
    head_dim: int | None = Field(None, ge=1, description="decoder/encdec: per-head size")
    intermediate_size: int | None = Field(None, ge=1, description="MLP inner size (gated MLPs)")
    num_decoder_layers: int | None = Field(None, ge=1, description="encdec: decoder layers")
    max_position_embeddings: int | None = Field(None, ge=1, description="longest sequence (RoPE)")
    tie_word_embeddings: bool | None = None
    rope_theta: float | None = Field(None, gt=0)
    local_attention: int | None = Field(None, ge=2, description="encoder: sliding window size")
    global_attn_every_n_layers: int | None = Field(None, ge=1, description="encoder: global layer period")
    relative_attention_num_buckets: int | None = Field(None, ge=1)
    relative_attention_max_distance: int | None = Field(None, ge=1)
    dropout: float | None = Field(None, ge=0.0, lt=1.0)
    initializer_range: float | None = Field(None, gt=0.0, description="std of the normal init")
    norm_eps: float | None = Field(None, gt=0.0)
    pooling: Pooling | None = Field(None, description="embedding/classification pooling")
    attn_implementation: Literal["sdpa", "eager"] = "sdpa"
    pad_vocab_to_multiple_of: int = Field(1, ge=1, description="round the embedding rows up (e.g. 64)")

    def resolve(self) -> ModelConfig:
        """A copy with every key that applies to the family filled in (others None)."""
        from codelm.presets import find_preset, load_preset

        base: dict[str, Any] = {}
        if self.preset is not None:
            base = load_preset(find_preset(self.preset, "model").name, "model")
            base.pop("preset", None)
        # Only ModelConfig's own keys: subclasses (a training config's model
        # section) may carry more.
        own = set(ModelConfig.model_fields) - {"preset"}
        explicit = {k: v for k, v in self.model_dump(exclude_none=True).items() if k in own}
        merged = {**base, **{k: v for k, v in explicit.items() if k in self.model_fields_set or k not in base}}
        family = merged.get("family")
        if family is None:
            raise ConfigError(
                "model: set model.preset (e.g. decoder-small; `codelm models` lists them) "
                "or model.family (decoder, encoder or encdec)"
            )
        for key, families in _ONLY_FOR.items():
            if merged.get(key) is not None and family not in families:
                raise ConfigError(
                    f"model.{key} does not apply to the {family} family "
                    f"(only {', '.join(families)}); remove it"
                )
        for key in ("hidden_size", "num_layers", "num_heads"):
            if merged.get(key) is None:
                raise ConfigError(f"model.{key} is required (no preset sets it); set it or choose a model.preset")
        for key, value in _DEFAULTS[family].items():
            if merged.get(key) is None:
                merged[key] = value
        _derive(merged)
        _check(merged)
        merged["preset"] = self.preset
        return validate(ModelConfig, merged, [("model", merged)])


def _derive(m: dict[str, Any]) -> None:
    """Fill dimensions that follow from others (head size, MLP size, KV heads)."""
    family, d, heads = m["family"], m["hidden_size"], m["num_heads"]
    if family in ("decoder", "encdec") and m.get("head_dim") is None:
        m["head_dim"] = d // heads
    if family == "decoder" and m.get("num_kv_heads") is None:
        m["num_kv_heads"] = heads
    if family == "encdec" and m.get("num_decoder_layers") is None:
        m["num_decoder_layers"] = m["num_layers"]
    if m.get("intermediate_size") is None:
        if family == "encoder":
            # ModernBERT: GeGLU inner size 1.5·d (1152 for d=768).
            m["intermediate_size"] = _round_up(3 * d // 2, 64)
        else:
            # SwiGLU/GeGLU with three matrices: 8/3·d keeps the parameter count
            # of a 4·d two-matrix MLP (Shazeer 2020; Llama rounds up likewise).
            m["intermediate_size"] = _round_up(8 * d // 3, 64)


def _check(m: dict[str, Any]) -> None:
    family, d, heads = m["family"], m["hidden_size"], m["num_heads"]
    if family == "encoder" and d % heads:
        raise ConfigError(f"model.hidden_size {d} must be a multiple of model.num_heads {heads} for the encoder")
    if family == "decoder":
        if heads % m["num_kv_heads"]:
            raise ConfigError(
                f"model.num_heads {heads} must be a multiple of model.num_kv_heads {m['num_kv_heads']} "
                "(each key/value head serves a whole group of query heads)"
            )
        if m["head_dim"] % 2:
            raise ConfigError(f"model.head_dim {m['head_dim']} must be even for rotary embeddings")
    if family == "encdec" and m["tie_word_embeddings"] is False:
        raise ConfigError(
            "model.tie_word_embeddings=false is not supported for encdec: transformers 5 always ties "
            "T5's output layer to its shared embedding; remove the key"
        )


def _round_up(x: int, multiple: int) -> int:
    return max(multiple, (x + multiple - 1) // multiple * multiple)
