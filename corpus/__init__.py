"""Corpus: the manifest schema, the synthetic espeak-ng corpus and ingest adapters."""
