"""Training: training sets from Feast, heads, metrics, W&B tracking, model registry, CT."""
