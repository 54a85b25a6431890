"""Corpus building: sources, filters, PII redaction, dedup, decontamination, splits."""
