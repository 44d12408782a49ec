# The two commands of the README.  Each does its own set-up first (scripts/setup.sh).
.PHONY: demo test setup lint bench

setup:
	@bash scripts/setup.sh

## The main job: the whole pipeline on embedded defaults (`nordlid run`).
demo: setup
	.venv/bin/nordlid run

PACKAGES = nordlid pipeline corpus validation monitoring extractors feature_repo training serving

## The test suite: static checks first (lint, format, types, the layer contract), then
## pytest (starts a local Redis when none answers on 127.0.0.1:6379).
test: setup lint
	bash scripts/with_redis.sh .venv/bin/python -m pytest -q -p no:cacheprovider

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy $(PACKAGES)
	.venv/bin/lint-imports

bench: setup
	bash scripts/with_redis.sh bash benchmarks/run_all.sh
