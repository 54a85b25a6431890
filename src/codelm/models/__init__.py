"""Model families (decoder/Llama, encoder/ModernBERT, encdec/T5), heads and attention masks.

Everything built here is a standard `transformers` model. The public API is
imported lazily so `import codelm.models` stays cheap.
"""

from __future__ import annotations

from codelm.lazy import lazy_getattr

_EXPORTS = {
    "ModelConfig": "codelm.models.config",
    "FAMILY_NAMES": "codelm.models.config",
    "HEAD_NAMES": "codelm.models.config",
    "FAMILIES": "codelm.models.families",
    "build_model": "codelm.models.build",
    "hf_config": "codelm.models.build",
    "meta_model": "codelm.models.build",
    "parameter_count": "codelm.models.build",
    "count_parameters": "codelm.models.build",
    "model_info": "codelm.models.build",
    "preset_infos": "codelm.models.build",
    "DEFAULT_VOCAB_SIZE": "codelm.models.build",
    "prefix_lm_mask": "codelm.models.masks",
    "document_mask": "codelm.models.masks",
    "allowed_4d": "codelm.models.masks",
    "pool": "codelm.models.heads",
    "EmbeddingModel": "codelm.models.heads",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
