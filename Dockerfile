# syntax=docker/dockerfile:1
# ocrbatch images, one Dockerfile, three targets:
#
#   docker build --target operator      -t ocrbatch-operator:0.1.0      .   # ocr-operator (kopf)
#   docker build --target worker        -t ocrbatch-worker:0.1.0        .   # ocr-job, onnx engine
#   docker build --target worker-paddle -t ocrbatch-worker-paddle:0.1.0 .   # ocr-job, + paddle engine
#
# `make images` builds all three with podman (scripts/build-images.sh) and checks them.
#
# BASE_IMAGE: any Debian-based image with Python 3.11 and `python` on PATH. The default is
# the official slim image; where no registry is reachable, scripts/build-base-image.sh makes
# one with debootstrap (`--build-arg BASE_IMAGE=localhost/ocrbatch-base:bookworm`). Builder
# and runtime stages share it (the venv's interpreter is the base's). Pin it by digest too
# (python:3.11.14-slim-bookworm@sha256:...) in your registry.
#
# Each image's dependencies are its lock file, requirements/<image>.txt (`make lock`), installed
# into /opt/venv before any source is copied; the ocrbatch wheel's own files are a layer of
# their own on top. The final stages copy only these onto the base (no compilers, no pip
# cache, no sources), run as the numeric non-root user 10001:10001 and keep HOME=/tmp, the
# only writable place under the chart's and the operator's
# readOnlyRootFilesystem (an emptyDir). The OCR models ship inside the rapidocr (and
# rapidocr_paddle) wheels: nothing is downloaded when a container starts.
ARG BASE_IMAGE=python:3.11.14-slim-bookworm

# ---------------------------------------------------------------- build
# Two kinds of layers, so that a change to the code rebuilds (and ships) only a small one:
#   deps-<image>: a venv with the image's locked dependencies (requirements/<image>.txt,
#                 `make lock`), built from the lock files alone: no source is copied yet;
#   app:          the ocrbatch wheel's own files (both packages, the two console scripts),
#                 built from the sources and staged under /app as they land in /opt/venv.
# Each final stage copies its deps venv, then the app files on top.
FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements ./requirements

FROM builder AS deps-operator
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -r requirements/operator.txt

FROM builder AS deps-worker
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -r requirements/worker.txt

# The paddle venv is the worker's plus the paddle extra's locked packages (the worker's layer
# is reused while building). paddleocr and rapidocr_paddle pull opencv-python and
# opencv-contrib-python, whose files land in the same cv2/ folder as the headless build (Qt,
# GL, contrib modules): keep only the headless build the worker ships (as `make install-test`
# does), so no GL libraries.
FROM deps-worker AS deps-worker-paddle
RUN /opt/venv/bin/pip install -r requirements/worker-paddle.txt \
 && headless="$(/opt/venv/bin/pip show opencv-python-headless | sed -n 's/^Version: //p')" \
 && /opt/venv/bin/pip uninstall --yes opencv-python opencv-contrib-python opencv-python-headless \
 && /opt/venv/bin/pip install --no-deps "opencv-python-headless==${headless}"

# `pip install --no-deps .` builds the ocrbatch wheel (PEP 517, not editable) into an empty
# venv at the images' path and compiles its .pyc files (nothing is written at run time);
# every file its RECORD lists is then copied to /app + its path (python -I: the build's
# ocrbatch.egg-info in /src is not the installed distribution). The dependencies come from
# the deps stages: `make images` (scripts/check-images.sh) runs each image's entrypoints and
# models.
FROM builder AS app
COPY pyproject.toml README.md ./
COPY ocr_job ./ocr_job
COPY operator ./operator
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/python -I -c "import importlib.metadata as md, os, shutil; \
files = [os.path.normpath(f.locate()) for f in md.distribution('ocrbatch').files]; \
[os.makedirs(os.path.dirname('/app' + f), exist_ok=True) or shutil.copy2(f, '/app' + f) for f in files]" \
 && test -x /app/opt/venv/bin/ocr-job && test -x /app/opt/venv/bin/ocr-operator

# The int8 text detector (ocr_job/engines/quantize.py), built from the rapidocr wheel's float
# model and calibrated on the project's synthetic cards, whose fonts this stage alone installs
# (the runtime images carry none). The worker images copy the model beside their venv, where
# the engine looks for it: no worker builds it at start.
FROM deps-worker AS models
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      fonts-noto-cjk fonts-ocr-b fonts-wqy-zenhei fonts-wqy-microhei fonts-arphic-uming fonts-arphic-gbsn00lp \
 && rm -rf /var/lib/apt/lists/*
COPY --from=app /app/ /
RUN OCR_MODEL_DIR=/models /opt/venv/bin/ocr-job models

# ---------------------------------------------------------------- runtime images
# What the three images share; each target adds its venv and its entrypoint.
FROM ${BASE_IMAGE} AS runtime
LABEL org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
ENV PATH="/opt/venv/bin:$PATH" \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /tmp
USER 10001:10001

FROM runtime AS operator
LABEL org.opencontainers.image.title="ocrbatch-operator" \
      org.opencontainers.image.description="ocr-operator: reconciles OcrBatch resources into Indexed Jobs"
COPY --from=deps-operator /opt/venv /opt/venv
COPY --from=app /app/ /
EXPOSE 8080 9090
ENTRYPOINT ["ocr-operator"]
CMD ["--all-namespaces", "--standalone", "--liveness=http://0.0.0.0:8080/healthz", "--metrics-port=9090"]

FROM runtime AS worker-paddle
LABEL org.opencontainers.image.title="ocrbatch-worker-paddle" \
      org.opencontainers.image.description="ocr-job worker with the onnx and paddle engines"
# Paddle Inference links the system's OpenMP runtime.
USER 0:0
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
USER 10001:10001
COPY --from=deps-worker-paddle /opt/venv /opt/venv
COPY --from=app /app/ /
COPY --from=models /models /opt/venv/share/ocrbatch/models
ENTRYPOINT ["ocr-job"]
CMD ["--help"]

# The default target (last): the onnx worker.
FROM runtime AS worker
LABEL org.opencontainers.image.title="ocrbatch-worker" \
      org.opencontainers.image.description="ocr-job worker (onnx engine, models inside the image)"
COPY --from=deps-worker /opt/venv /opt/venv
COPY --from=app /app/ /
COPY --from=models /models /opt/venv/share/ocrbatch/models
ENTRYPOINT ["ocr-job"]
CMD ["--help"]
