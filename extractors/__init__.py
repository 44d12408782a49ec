"""Extractors: one registry of feature extractors, batching, Parquet writing with lineage."""
