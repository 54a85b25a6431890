"""Tokenizers: code-aware byte-level BPE with the codelm special tokens."""
