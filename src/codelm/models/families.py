"""The three model families as standard `transformers` classes.

Each family maps a resolved `ModelConfig` to a transformers config and names
the class for every head, so a saved checkpoint loads with plain
`AutoModelFor*.from_pretrained(dir)` and no codelm import:

| family  | class (lm head)               | why this one |
|---------|-------------------------------|--------------|
| decoder | `LlamaForCausalLM`            | RoPE, RMSNorm, SwiGLU, GQA/MQA via `num_key_value_heads`, SDPA; every serving engine (vLLM, llama.cpp, TGI) runs it |
| encoder | `ModernBertForMaskedLM`       | RoPE, GeGLU, pre-norm, alternating local/global attention, 8k context, code in its pretraining mix; RoBERTa's learned absolute positions (offset by the pad id) and post-norm are older and cap the length at 512 |
| encdec  | `T5ForConditionalGeneration`  | the span-corruption/UL2 reference architecture (relative position buckets, gated-GELU as in T5 v1.1) |

Every config carries our special-token ids (eos 0, pad 1, mask 2, cls 3,
sep 4; T5's decoder start = pad = 1), so `generate()` stops and pads right
without extra arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codelm.registry import Registry
from codelm.tokenizer.special import CLS_ID, EOS_ID, MASK_ID, PAD_ID, SEP_ID

if TYPE_CHECKING:
    from codelm.models.config import ModelConfig

# Ids every family's config carries (mask/cls/sep as extra attributes where
# the transformers config has no field for them; they are saved in config.json).
SPECIAL_IDS = {
    "pad_token_id": PAD_ID,
    "eos_token_id": EOS_ID,
    "mask_token_id": MASK_ID,
    "cls_token_id": CLS_ID,
    "sep_token_id": SEP_ID,
}


@dataclass(frozen=True)
class FamilySpec:
    """How one family becomes transformers objects."""

    name: str
    model_type: str  # transformers `model_type`
    classes: dict[str, str]  # head -> transformers class name
    auto_classes: dict[str, str]  # head -> Auto class that loads the saved checkpoint
    make_config: Any  # (ModelConfig, vocab_size, **head_kwargs) -> PretrainedConfig
    scale_residual: Any  # (model, ModelConfig) -> None: scaled init of residual projections
    generation: dict[str, int]  # ids for GenerationConfig (lm head only)
    init_note: str  # one line for docs and `codelm models`


FAMILIES: Registry[FamilySpec] = Registry("model family")


def _decoder_config(m: ModelConfig, vocab_size: int, **head: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=m.hidden_size,
        intermediate_size=m.intermediate_size,
        num_hidden_layers=m.num_layers,
        num_attention_heads=m.num_heads,
        num_key_value_heads=m.num_kv_heads,  # < num_heads: GQA; 1: MQA
        head_dim=m.head_dim,
        hidden_act="silu",  # SwiGLU: down(silu(gate(x)) * up(x))
        max_position_embeddings=m.max_position_embeddings,
        initializer_range=m.initializer_range,
        rms_norm_eps=m.norm_eps,
        tie_word_embeddings=m.tie_word_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": m.rope_theta},
        attention_bias=False,
        attention_dropout=m.dropout,
        mlp_bias=False,
        bos_token_id=EOS_ID,  # documents start after <|endoftext|>, as GPT-2/StarCoder
        **SPECIAL_IDS,
        **head,
    )


def _scale_decoder_residual(model: Any, m: ModelConfig) -> None:
    """GPT-2's scaled init: projections that write into the residual stream get std/sqrt(2·L).

    Each of the L layers adds two such outputs (attention `o_proj`, MLP
    `down_proj`) to the residual stream; with std/sqrt(2L) the stream's
    variance at the top stays that of one layer instead of growing with
    depth (Radford et al. 2019, §2.3; nanoGPT `c_proj` init). Everything else
    keeps transformers' normal(0, initializer_range) and RMSNorm weights 1.
    """
    import torch

    std = m.initializer_range / math.sqrt(2 * m.num_layers)
    for name, param in model.named_parameters():
        if name.endswith(("self_attn.o_proj.weight", "mlp.down_proj.weight")):
            with torch.no_grad():
                param.normal_(0.0, std)


def _encoder_config(m: ModelConfig, vocab_size: int, **head: Any) -> Any:
    from transformers import ModernBertConfig

    return ModernBertConfig(
        vocab_size=vocab_size,
        hidden_size=m.hidden_size,
        intermediate_size=m.intermediate_size,
        num_hidden_layers=m.num_layers,
        num_attention_heads=m.num_heads,
        hidden_activation="gelu",  # GeGLU
        max_position_embeddings=m.max_position_embeddings,
        initializer_range=m.initializer_range,
        norm_eps=m.norm_eps,
        local_attention=m.local_attention,
        global_attn_every_n_layers=m.global_attn_every_n_layers,
        global_rope_theta=m.rope_theta,
        local_rope_theta=10000.0,
        tie_word_embeddings=m.tie_word_embeddings,
        embedding_dropout=m.dropout,
        mlp_dropout=m.dropout,
        attention_dropout=m.dropout,
        classifier_dropout=m.dropout,
        classifier_pooling="cls" if m.pooling == "cls" else "mean",
        bos_token_id=CLS_ID,
        **SPECIAL_IDS,
        **head,
    )


def _keep_native(model: Any, m: ModelConfig) -> None:
    """Nothing to add: the family's own `_init_weights` already scales (see `init_note`)."""


def _encdec_config(m: ModelConfig, vocab_size: int, **head: Any) -> Any:
    from transformers import T5Config

    return T5Config(
        vocab_size=vocab_size,
        d_model=m.hidden_size,
        d_kv=m.head_dim,
        d_ff=m.intermediate_size,
        num_layers=m.num_layers,
        num_decoder_layers=m.num_decoder_layers,
        num_heads=m.num_heads,
        relative_attention_num_buckets=m.relative_attention_num_buckets,
        relative_attention_max_distance=m.relative_attention_max_distance,
        dropout_rate=m.dropout,
        classifier_dropout=m.dropout,
        layer_norm_epsilon=m.norm_eps,
        feed_forward_proj="gated-gelu",  # T5 v1.1
        tie_word_embeddings=True,  # transformers 5 always ties; True keeps T5's d_model^-0.5 output scale
        is_encoder_decoder=True,
        decoder_start_token_id=PAD_ID,  # T5 convention: the decoder starts from <pad>
        **SPECIAL_IDS,
        **head,
    )


FAMILIES.add(
    "decoder",
    FamilySpec(
        name="decoder",
        model_type="llama",
        classes={
            "lm": "LlamaForCausalLM",
            "sequence_classification": "LlamaForSequenceClassification",
            "token_classification": "LlamaForTokenClassification",
            "embedding": "LlamaModel",
        },
        auto_classes={
            "lm": "AutoModelForCausalLM",
            "sequence_classification": "AutoModelForSequenceClassification",
            "token_classification": "AutoModelForTokenClassification",
            "embedding": "AutoModel",
        },
        make_config=_decoder_config,
        scale_residual=_scale_decoder_residual,
        generation={"bos_token_id": EOS_ID, "eos_token_id": EOS_ID, "pad_token_id": PAD_ID},
        init_note="normal(0, 0.02); o_proj/down_proj normal(0, 0.02/sqrt(2·layers)) (GPT-2); RMSNorm 1",
    ),
)
FAMILIES.add(
    "encoder",
    FamilySpec(
        name="encoder",
        model_type="modernbert",
        classes={
            "lm": "ModernBertForMaskedLM",
            "sequence_classification": "ModernBertForSequenceClassification",
            "token_classification": "ModernBertForTokenClassification",
            "embedding": "ModernBertModel",
        },
        auto_classes={
            "lm": "AutoModelForMaskedLM",
            "sequence_classification": "AutoModelForSequenceClassification",
            "token_classification": "AutoModelForTokenClassification",
            "embedding": "AutoModel",
        },
        make_config=_encoder_config,
        scale_residual=_keep_native,
        generation={},
        init_note="truncated normal(0, 0.02) at ±2σ; attention/MLP Wo at 0.02/sqrt(2·layers) (ModernBERT's own)",
    ),
)
FAMILIES.add(
    "encdec",
    FamilySpec(
        name="encdec",
        model_type="t5",
        classes={
            "lm": "T5ForConditionalGeneration",
            "sequence_classification": "T5ForSequenceClassification",
            "token_classification": "T5ForTokenClassification",
            "embedding": "T5EncoderModel",
        },
        auto_classes={
            "lm": "AutoModelForSeq2SeqLM",
            "sequence_classification": "AutoModelForSequenceClassification",
            "token_classification": "AutoModelForTokenClassification",
            "embedding": "AutoModelForTextEncoding",
        },
        make_config=_encdec_config,
        scale_residual=_keep_native,
        generation={"eos_token_id": EOS_ID, "pad_token_id": PAD_ID, "decoder_start_token_id": PAD_ID},
        init_note="T5 fan-in init (Mesh TF): q d^-1/2·d_kv^-1/2, k/v d^-1/2, o (h·d_kv)^-1/2, wo d_ff^-1/2, embedding 1",
    ),
)
