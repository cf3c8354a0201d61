# Warden: `make test` runs everything (Go vet/gofmt/race tests on SQLite and a
# throwaway PostgreSQL, then the Prefect SDK compatibility suite).

GO       ?= go
PYTHON   ?= python3
VENV     := .venv
VENV_PY  := $(VENV)/bin/python
# Records which requirements-test.txt the venv was built from.
VENV_STAMP := $(VENV)/.requirements.sha256

.PHONY: all build test test-go vet fmt-check test-compat test-ui ui ui-check venv bench run clean

all: build

build:
	$(GO) build -o bin/warden ./cmd/warden

# The one command that runs every test. Sequential on purpose: the Go tests
# already use both cores, and the compat and UI suites build their own binary.
# Every part always runs, so one red run shows every failure.
test:
	@status=0; \
	$(MAKE) --no-print-directory test-go || status=1; \
	$(MAKE) --no-print-directory test-compat || status=1; \
	$(MAKE) --no-print-directory test-ui || status=1; \
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

# The web UI bundle embedded in the binary (internal/ui/dist, committed so
# `go build` needs no Node). Rebuild it after changing ui/; the output is
# deterministic, which `make ui-check` (run by CI) relies on.
ui:
	cd ui && npm ci --no-audit --no-fund && npm run build

# Fails when the committed bundle differs from a fresh build of ui/.
ui-check: ui
	@if [ -n "$$(git status --porcelain -- internal/ui/dist)" ]; then \
		echo "ui-check: internal/ui/dist differs from a fresh 'make ui'; commit the rebuilt bundle:"; \
		git status --short -- internal/ui/dist; exit 1; \
	fi; \
	echo "ui-check: committed bundle matches a fresh build"

# Browser tests of the UI: the real binary, the Prefect SDK (.venv), Debian's
# chromium and nginx, driven by playwright-core (see e2e/).
test-ui: venv
	cd e2e && npm ci --no-audit --no-fund && npm test

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

# Warden vs Prefect's own server on this machine; writes bench/results/<date>.md.
# make bench BENCH_FLAGS=--quick finishes in under 5 minutes on 2 cores.
bench: venv
	$(GO) run ./bench/cmd/bench $(BENCH_FLAGS)

run:
	$(GO) run ./cmd/warden server start

clean:
	rm -rf bin
