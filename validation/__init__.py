"""Validation: Great Expectations suites, duplicates, leakage, balance, quality gates."""
