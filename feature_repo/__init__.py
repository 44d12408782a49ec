"""The Feast repository (feature_store.yaml + definitions derived from the extractor registry)."""
