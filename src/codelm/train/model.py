"""The model and tokenizer a run trains, as plain transformers objects.

Sources: a codelm architecture (`codelm.models` preset plus overrides), an
existing HF checkpoint directory (continue pretraining), or a raw
transformers config mapping (`model_type` plus fields). Whatever the source, the result is an
`AutoModelFor*` class, so checkpoints load without codelm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from codelm.errors import ConfigError, InputError
from codelm.train.config import ModelSection

AUTO_CLASSES = {
    "decoder": "AutoModelForCausalLM",
    "encoder": "AutoModelForMaskedLM",
    "encdec": "AutoModelForSeq2SeqLM",
}


def load_tokenizer(path: str | Path) -> Any:
    """A tokenizer directory (codelm's loader: plain AutoTokenizer plus a special-token check)."""
    from codelm.tokenizer import load_tokenizer as codelm_load

    path = Path(path)
    if not path.is_dir():
        raise InputError(f"tokenizer directory '{path}' does not exist; train one with `codelm tokenizer train`")
    return codelm_load(path)


def family_of_config(config: Any) -> str:
    """decoder / encoder / encdec from a transformers config."""
    if getattr(config, "is_encoder_decoder", False):
        return "encdec"
    archs = " ".join(getattr(config, "architectures", None) or [])
    if "MaskedLM" in archs or getattr(config, "model_type", "") in ("bert", "roberta", "modernbert", "deberta-v2", "electra"):
        return "encoder"
    return "decoder"


def _special_ids(tokenizer: Any) -> dict[str, int]:
    from codelm.tokenizer.special import EOS_ID, PAD_ID

    return {"vocab_size": len(tokenizer), "pad_token_id": PAD_ID, "eos_token_id": EOS_ID, "bos_token_id": EOS_ID}


@dataclass
class ModelPlan:
    """How to get the weights, decided before any are allocated."""

    config: Any  # transformers config
    family: str
    checkpoint: str | None  # load weights from here (continue pretraining)
    architecture: Any = None  # codelm ModelConfig when built by codelm.models

    def meta(self) -> torch.nn.Module:
        """The model on the meta device: shapes and parameter counts, no memory."""
        with torch.device("meta"):
            return auto_class(self.family).from_config(self.config)

    def build(self, seed: int, checkpoint: str | None = None) -> torch.nn.Module:
        """Real fp32 weights: from `checkpoint` (or the plan's own), else freshly initialised from `seed`."""
        source = checkpoint or self.checkpoint
        if source is not None:
            model = auto_class(self.family).from_pretrained(source, config=self.config, dtype=torch.float32)
        elif self.architecture is not None:
            from codelm.models import build_model

            model = build_model(self.architecture, self.config.vocab_size, head="lm", seed=seed)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = auto_class(self.family).from_config(self.config, dtype=torch.float32)
        if not getattr(model.config, "architectures", None):
            model.config.architectures = [type(model).__name__]
        return model


def plan_model(section: ModelSection, tokenizer: Any) -> ModelPlan:
    """Resolve the model source of a config against the tokenizer."""
    from transformers import AutoConfig

    if section.path is not None:
        path = Path(section.path)
        if not (path / "config.json").is_file():
            raise InputError(f"model.path '{path}' is not a transformers checkpoint (no config.json)")
        config = AutoConfig.from_pretrained(str(path))
        if config.vocab_size < len(tokenizer):
            raise ConfigError(
                f"model.path '{path}' has {config.vocab_size} embedding rows but the tokenizer has {len(tokenizer)} tokens; "
                "use the checkpoint's own tokenizer"
            )
        return ModelPlan(config, family_of_config(config), str(path))
    if section.hf:
        fields = dict(section.hf)
        model_type = fields.pop("model_type")
        try:
            config = AutoConfig.for_model(model_type, **{**_special_ids(tokenizer), **fields})
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"model.hf: {exc}".splitlines()[0]) from None
        family = family_of_config(config)
        if family == "encdec":
            config.decoder_start_token_id = config.pad_token_id
        return ModelPlan(config, family, None)
    from codelm.models import hf_config

    architecture = section.architecture().resolve()
    config = hf_config(architecture, len(tokenizer), head="lm")
    return ModelPlan(config, str(architecture.family), None, architecture)


def auto_class(family: str) -> Any:
    import transformers

    return getattr(transformers, AUTO_CLASSES[family])


class ModelView:
    """What an objective's `loss()` receives: calls go through the wrapper, attributes come from the model.

    DDP/FSDP/compile wrappers must see every forward call (that is where the
    gradient hooks fire), but they hide `model.config`, which losses read
    (e.g. T5's decoder start token). This view gives both.
    """

    def __init__(self, wrapped: torch.nn.Module, inner: torch.nn.Module) -> None:
        self._wrapped = wrapped
        self._inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrapped(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
