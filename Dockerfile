# One image for every role (API, scheduler, crawler workers); the role is the container's command.
#   docker build -t opmon .                                   # CPU torch (default)
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 -t opmon:gpu .
FROM python:3.11-slim-bookworm

ARG TORCH_VERSION=2.13.0
# The CPU wheel index keeps pip from pulling multi-GB CUDA wheels into the default image.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OPMON_DATA_DIR=/data \
    OPMON_LOG_FORMAT=json

# Chromium renders Dianping pages for scrapy-playwright; curl serves healthchecks.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium curl tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
RUN pip install --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"

# Dependencies first (cached layer), then the code.
COPY pyproject.toml README.md ./
COPY core/__init__.py core/__init__.py
RUN pip install -e . && pip uninstall -y opmon

COPY . .
RUN pip install --no-deps -e . \
 && useradd --create-home --uid 10001 opmon \
 && mkdir -p /data && chown opmon:opmon /data
USER opmon
VOLUME ["/data"]
EXPOSE 8000 9108

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["opmon", "serve", "--host", "0.0.0.0", "--port", "8000"]
