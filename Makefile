# Gatehouse: the two commands a newcomer needs.
#   make dev    run the whole system locally on http://127.0.0.1:3000
#   make test   run every test (picks its own free ports)
# Both install the pinned tools they need into .tools/ first.

SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
VENV := $(TOOLS)/venv
SAM_VENV := $(TOOLS)/sam
BENCH_VENV := $(TOOLS)/bench
CHECKOV_VENV := $(TOOLS)/checkov
ST_VENV := $(TOOLS)/st
DOCS_RENDERER := $(TOOLS)/docs/.installed
CHROMIUM := $(TOOLS)/.chromium
PORT ?= 3000
FUNCTIONS := $(notdir $(patsubst %/Cargo.toml,%,$(wildcard functions/*/Cargo.toml)))
# Release builds only (cargo-lambda passes --target, so build scripts and proc
# macros are not affected): a non-PIE executable has no dynamic relocations to
# ship or apply at start, and with panic = "abort" nothing unwinds. Both
# `make sam-build` and `make bench` build with these, so the benchmark measures
# what ships.
RELEASE_RUSTFLAGS := -C relocation-model=static -C force-unwind-tables=no
# The functions' processor for `make sam-build`, as the template's
# FunctionArchitecture: arm64 (the default, Graviton) or x86_64. Deploy with the same.
ARCHITECTURE ?= arm64
RUST_TARGET_arm64 := aarch64-unknown-linux-gnu
RUST_TARGET_x86_64 := x86_64-unknown-linux-gnu
# The flag SAM's cargo-lambda build passes for each (none for x86_64), so its own
# per-function call finds the binaries this build made.
CARGO_LAMBDA_ARCH_arm64 := --arm64
CARGO_LAMBDA_ARCH_x86_64 :=
# Template parameters for `make dev`, as `sam deploy` takes them:
#   make dev OVERRIDES="Stage=dev SignUpAutoConfirmDomains=test.example"
#   make dev ENV=prod        (samconfig.toml's [prod] parameter_overrides; OVERRIDES win)
OVERRIDES ?=
# Alarms are declared, never sent, locally; the template still needs an address.
ALARM_EMAIL ?= alarms@example.com
ENV ?=

export SAM_CLI_TELEMETRY := 0
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/$(SAM_VENV)/bin:$(PATH)

.PHONY: dev test test-tools tools build lint sam-build rust-target arm64-check deploy-check bench bench-policies bench-notifications clean-tools

dev: $(VENV)/.installed build
	./target/debug/gatehouse-local --port $(PORT) --moto-server $(VENV)/bin/moto_server \
		--parameter-overrides "PublicBaseUrl=http://127.0.0.1:$(PORT) AlarmEmail=$(ALARM_EMAIL) $(OVERRIDES)" --config-env "$(ENV)"

# Phases (install, build, unit, integration, linters, contract), each timed.
test:
	bash scripts/test.sh

# What can be checked about a deployment without AWS: the release build that
# ships (`make sam-build`), the template's linters (cfn-lint, sam validate --lint,
# checkov), each function's IAM against its calls, the deploy assertions on the
# template as written and as CloudFormation receives it (SAM's transform), and for
# arm64 that the bootstraps start and answer (under qemu).
deploy-check: tools build sam-build $(if $(filter arm64,$(ARCHITECTURE)),arm64-check)
	cargo test --workspace --test integration -- template::

# What `make test` installs before it builds.
test-tools: tools $(CHROMIUM)

build: $(DOCS_RENDERER)
	cargo build --workspace --bins

tools: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed $(ST_VENV)/.installed $(DOCS_RENDERER)

$(VENV)/.installed: scripts/requirements-local.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	touch $@

# The Python peer of the benchmark (boto3, pinned) in a virtualenv of its own.
$(BENCH_VENV)/.installed: scripts/requirements-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	touch $@

# The API docs page's renderer, pinned, from the npm registry (scripts/docs-renderer.sh).
$(DOCS_RENDERER): scripts/docs-renderer.sh
	bash $< $(TOOLS)/docs
	touch $@

# A real browser for the docs page test: Debian's Chromium (installed as root,
# as CI runs; Debian's release pins the version).
$(CHROMIUM):
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	mkdir -p $(TOOLS) && touch $@

# schemathesis (the API contract run in make test) in a virtualenv of its own.
$(ST_VENV)/.installed: scripts/requirements-schemathesis.txt
	$(PYTHON) -m venv $(ST_VENV)
	$(ST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	touch $@

# checkov (template security checks) pins its own dependencies too.
$(CHECKOV_VENV)/.installed: scripts/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	touch $@

# SAM CLI pins its own boto3, so it lives in a virtualenv of its own.
$(SAM_VENV)/.installed: scripts/requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	touch $@

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# What `sam deploy` ships: every function built with the pinned cargo-lambda, which
# links through the zig in the SAM virtualenv (so that virtualenv comes first).
# One cargo build of all functions first (dependencies compiled once, links in
# parallel), selected as `sam build` selects them (--bin from the workspace root,
# so features resolve alike); then `sam build`, whose cargo-lambda call per
# function finds its binary up to date and copies it. The docs function embeds
# the pinned API docs renderer, so that is installed too.
sam-build: $(SAM_VENV)/.installed $(DOCS_RENDERER) rust-target
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" RUSTFLAGS="$(RELEASE_RUSTFLAGS)" \
		cargo lambda build --release $(CARGO_LAMBDA_ARCH_$(ARCHITECTURE)) $(addprefix --bin ,$(FUNCTIONS))
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" RUSTFLAGS="$(RELEASE_RUSTFLAGS)" sam build --beta-features \
		--parameter-overrides FunctionArchitecture=$(ARCHITECTURE)
	$(PYTHON) scripts/check-artifacts.py .aws-sam/build $(ARCHITECTURE)

# The arm64 bootstraps start and answer (scripts/arm64-check.py): each runs under
# qemu-aarch64-static behind the local stack's Runtime API, for GET /health and a
# sign-up through the local API Gateway. Part of `make deploy-check` for arm64.
arm64-check: ARCHITECTURE := arm64
arm64-check: sam-build build $(VENV)/.installed $(TOOLS)/.qemu-arm64
	$(PYTHON) scripts/arm64-check.py

# Debian's user-mode qemu and the aarch64 glibc the bootstraps link against.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(TOOLS)/.qemu-arm64:
	@mkdir -p $(TOOLS)
	command -v qemu-aarch64-static >/dev/null && test -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 \
		|| { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends qemu-user-static libc6-arm64-cross; }
	touch $@

# The Rust standard library for the architecture (a fresh machine has only its own).
rust-target:
	@test -n "$(RUST_TARGET_$(ARCHITECTURE))" || { echo "ARCHITECTURE is arm64 or x86_64, not $(ARCHITECTURE)"; exit 1; }
	rustup target add $(RUST_TARGET_$(ARCHITECTURE))

# The benchmark (not part of `make test`): release bootstraps as `make sam-build`
# makes them, each run as Lambda runs it beside its peers; writes bench/results/latest.*.
# Quicker runs: make bench BENCH_ARGS="--rounds 1 --only get-profile,python,floor"
# The policy engine alone (no I/O): decisions per second with 10 to 10,000
# policies, and the check service's own CPU per request; writes
# bench/results/policy-engine.md.
bench-policies:
	cargo run --release -p bench-policy-engine

# Notifications through the local stack: the fan-out time for 1,000 recipients
# and deliveries per second; writes bench/results/notifications.md.
bench-notifications: tools build
	$(PYTHON) bench/notifications.py

bench: tools build $(BENCH_VENV)/.installed
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" RUSTFLAGS="$(RELEASE_RUSTFLAGS)" $(PYTHON) bench/run.py $(BENCH_ARGS)

clean-tools:
	rm -rf $(TOOLS)
