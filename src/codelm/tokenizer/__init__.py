"""Tokenizers: code-aware byte-level BPE with the codelm special tokens.

The public API is imported lazily so `codelm.tokenizer.special` (used
everywhere) stays free of heavy imports.
"""

from __future__ import annotations

from codelm.lazy import lazy_getattr

_EXPORTS = {
    "TokenizerConfig": "codelm.tokenizer.train",
    "train_tokenizer": "codelm.tokenizer.train",
    "train_tokenizer_from_corpus": "codelm.tokenizer.train",
    "save_tokenizer": "codelm.tokenizer.train",
    "load_tokenizer": "codelm.tokenizer.train",
    "wrap_tokenizer": "codelm.tokenizer.train",
    "check_special_tokens": "codelm.tokenizer.train",
    "roundtrip_ok": "codelm.tokenizer.train",
    "encode_stats": "codelm.tokenizer.train",
    "TrainReport": "codelm.tokenizer.train",
    "CODE_PATTERN": "codelm.tokenizer.pretokenize",
    "build_pre_tokenizer": "codelm.tokenizer.pretokenize",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
