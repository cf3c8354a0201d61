# Warden: `make test` runs everything (Go vet/gofmt/race tests on SQLite and a
# throwaway PostgreSQL, then the Prefect SDK compatibility suite).

GO       ?= go
PYTHON   ?= python3
VENV     := .venv
VENV_PY  := $(VENV)/bin/python
# Records which requirements-test.txt the venv was built from.
VENV_STAMP := $(VENV)/.requirements.sha256

.PHONY: all build test test-go vet fmt-check test-compat venv bench run clean

all: build

build:
	$(GO) build -o bin/warden ./cmd/warden

# The one command that runs every test. Sequential on purpose: the Go tests
# already use both cores, and the compat suite builds its own binary.
# Both halves always run, so one red run shows every failure.
test:
	@status=0; \
	$(MAKE) --no-print-directory test-go || status=1; \
	$(MAKE) --no-print-directory test-compat || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED"; else echo "make test: all passed"; fi; \
	exit $$status

test-go:
	@status=0; \
	$(MAKE) --no-print-directory vet || status=1; \
	$(MAKE) --no-print-directory fmt-check || status=1; \
	echo "$(GO) test -race ./..."; $(GO) test -race ./... || status=1; \
	exit $$status

vet:
	$(GO) vet ./...

fmt-check:
	@files=$$(find . -name '*.go' -not -path './.venv/*' -not -path './node_modules/*' -not -path './.git/*' | xargs -r gofmt -l); \
	if [ -n "$$files" ]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi; \
	echo "gofmt: clean"

test-compat: venv
	$(VENV_PY) -m pytest compat -q

# Idempotent: rebuilt only when requirements-test.txt changes (stamp holds its
# hash) or the venv is missing.
venv:
	@want=$$(sha256sum requirements-test.txt | cut -d' ' -f1); \
	if [ -x $(VENV_PY) ] && [ "$$(cat $(VENV_STAMP) 2>/dev/null)" = "$$want" ]; then \
		echo "venv: up to date ($(VENV))"; exit 0; \
	fi; \
	set -e; \
	if [ ! -x $(VENV_PY) ]; then echo "venv: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); fi; \
	echo "venv: installing requirements-test.txt"; \
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt; \
	echo "$$want" > $(VENV_STAMP); \
	echo "venv: ready"

bench:
	@echo "bench: no benchmarks yet; they arrive with issue 6."

run:
	$(GO) run ./cmd/warden server start

clean:
	rm -rf bin
