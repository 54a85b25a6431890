"""Compiler views of code: languages, parse trees, tokens, data and control flow."""
