# nordlid API image: `nordlid serve` (FastAPI + uvicorn) on CPU.
# The model registry (models/) and the work data (data/) are mounted as volumes; nothing is
# downloaded at run time (HF_HUB_OFFLINE=1): the pipeline's outputs are the only inputs.
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NORDLID_WORKDIR=/srv/nordlid \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    FEAST_USAGE=False \
    WANDB_MODE=offline

RUN apt-get update \
    && apt-get install -y --no-install-recommends libsndfile1 libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first (cached layer), pinned by the same constraints as development.
COPY constraints.txt pyproject.toml README.md ./
COPY nordlid/ nordlid/
COPY pipeline/ pipeline/
COPY corpus/ corpus/
COPY validation/ validation/
COPY monitoring/ monitoring/
COPY extractors/ extractors/
COPY feature_repo/ feature_repo/
COPY training/ training/
COPY serving/ serving/
RUN pip install --constraint constraints.txt --extra-index-url "${TORCH_INDEX_URL}" .

# Unprivileged user; the work directory is the only writable place.
RUN useradd --create-home --uid 10001 --user-group nordlid \
    && mkdir -p /srv/nordlid/models /srv/nordlid/data \
    && chown -R nordlid:nordlid /srv/nordlid
USER nordlid:nordlid
WORKDIR /srv/nordlid
VOLUME ["/srv/nordlid/models", "/srv/nordlid/data"]

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["nordlid", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
