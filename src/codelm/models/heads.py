"""Fine-tuning heads beyond transformers' own, and the pooled embedding model.

Sequence and token classification are transformers classes on every family
(`build_model(..., head="sequence_classification")`): Llama pools the last
non-pad token, ModernBERT pools `[CLS]` (position 0) or the mean
(`model.pooling`), T5 pools the decoder state at the final `<|endoftext|>`
(so every input must end with exactly one EOS).

Retrieval embeddings have no transformers class, so an embedding model is
the bare stack (`LlamaModel`, `ModernBertModel`, `T5EncoderModel`, loadable
with `AutoModel` / `AutoModelForTextEncoding`) plus a pooling config saved
beside it in the sentence-transformers layout (`modules.json`,
`1_Pooling/config.json`, `2_Normalize`), so the directory is also usable
there. `EmbeddingModel` wraps both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codelm.errors import ConfigError, InputError

if TYPE_CHECKING:
    import torch

POOLING_MODES = ("mean", "cls", "last")
_ST_POOLING_KEY = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token", "last": "pooling_mode_lasttoken"}


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None, mode: str = "mean") -> torch.Tensor:
    """[B, T, H] hidden states → [B, H].

    mean: average over real tokens; cls: position 0; last: the last real
    token (right or left padding both work).
    """
    import torch

    if mode not in POOLING_MODES:
        raise ConfigError(f"unknown pooling '{mode}'; known: {', '.join(POOLING_MODES)}")
    B, T, _ = hidden.shape
    if attention_mask is None:
        attention_mask = torch.ones(B, T, dtype=torch.long, device=hidden.device)
    mask = attention_mask.to(hidden.dtype)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "mean":
        summed = (hidden * mask[:, :, None]).sum(dim=1)  # [B, H]
        return summed / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    # last: highest position holding a real token
    positions = torch.arange(T, device=hidden.device)[None, :].expand(B, T)
    last = (positions * attention_mask.long()).argmax(dim=1)  # [B]
    return hidden[torch.arange(B, device=hidden.device), last]


class EmbeddingModel:
    """A bare transformers stack + pooling (+ L2 normalisation) → one vector per input."""

    def __init__(self, model: Any, pooling: str = "mean", normalize: bool = True) -> None:
        if pooling not in POOLING_MODES:
            raise ConfigError(f"unknown pooling '{pooling}'; known: {', '.join(POOLING_MODES)}")
        if pooling == "cls" and getattr(model.config, "model_type", "") == "llama":
            raise ConfigError("pooling 'cls' makes no sense for a causal decoder (position 0 sees only itself); use last or mean")
        self.model = model
        self.pooling = pooling
        self.normalize = normalize

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        return self.encode(input_ids, attention_mask, **kwargs)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        """[B, T] ids → [B, H] embeddings (gradients flow; wrap in no_grad for inference)."""
        import torch.nn.functional as F

        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        emb = pool(out.last_hidden_state, attention_mask, self.pooling)
        return F.normalize(emb, dim=-1) if self.normalize else emb

    def save_pretrained(self, out_dir: str | Path) -> Path:
        out = Path(out_dir)
        self.model.save_pretrained(str(out))
        write_pooling_config(out, self.pooling, self.normalize, self.model.config.hidden_size)
        return out

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs: Any) -> EmbeddingModel:
        """Load the stack with the right Auto class and the saved pooling."""
        pooling, normalize = read_pooling_config(path)
        return cls(load_embedding_backbone(path, **kwargs), pooling, normalize)


def write_pooling_config(out: Path, pooling: str, normalize: bool, hidden_size: int) -> None:
    """The sentence-transformers module files describing pooling and normalisation."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (out / "2_Normalize").mkdir(parents=True, exist_ok=True)
    pooling_cfg = {"word_embedding_dimension": hidden_size, "include_prompt": True}
    for mode, key in _ST_POOLING_KEY.items():
        pooling_cfg[key] = mode == pooling
    pooling_cfg["pooling_mode_max_tokens"] = False
    pooling_cfg["pooling_mode_mean_sqrt_len_tokens"] = False
    pooling_cfg["pooling_mode_weightedmean_tokens"] = False
    (out / "1_Pooling").mkdir(parents=True, exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(json.dumps(pooling_cfg, indent=2) + "\n")
    (out / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")


def read_pooling_config(path: str | Path) -> tuple[str, bool]:
    """(pooling mode, normalize) from a saved embedding model directory."""
    path = Path(path)
    cfg_file = path / "1_Pooling" / "config.json"
    if not cfg_file.is_file():
        raise InputError(f"'{path}' has no 1_Pooling/config.json; save it with EmbeddingModel.save_pretrained")
    cfg = json.loads(cfg_file.read_text())
    modes = [mode for mode, key in _ST_POOLING_KEY.items() if cfg.get(key)]
    if len(modes) != 1:
        raise InputError(f"'{cfg_file}' must enable exactly one of {', '.join(_ST_POOLING_KEY.values())}")
    modules = json.loads((path / "modules.json").read_text()) if (path / "modules.json").is_file() else []
    normalize = any(m.get("type", "").endswith("Normalize") for m in modules)
    return modes[0], normalize


def load_embedding_backbone(path: str | Path, **kwargs: Any) -> Any:
    """`AutoModel` for decoder/encoder stacks, `AutoModelForTextEncoding` for a T5 encoder."""
    from transformers import AutoConfig, AutoModel, AutoModelForTextEncoding

    config = AutoConfig.from_pretrained(str(path))
    auto = AutoModelForTextEncoding if config.model_type == "t5" else AutoModel
    return auto.from_pretrained(str(path), **kwargs)
