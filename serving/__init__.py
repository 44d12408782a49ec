"""Serving: FastAPI service, predictor with mini → premium cascade, online lookups, logs."""
