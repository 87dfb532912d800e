# The two commands a new machine needs (see README.md):
#   make watch   installs what is needed, builds, and shows this host's OpenClaw sessions live
#   make test    installs what is needed and runs every check and test (what CI runs)
#   make compat  real OpenClaw gateways of every listed version, followed end to end (not in CI:
#                installs each version into /var/cache/openclaw-livestatus-compat; docs/compat.md)
SHELL := /bin/bash
CARGO ?= cargo
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: setup build watch demo test lint bench compat

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --release --locked

watch: build
	target/release/openclaw-livestatus watch

demo: build
	target/release/openclaw-livestatus demo

lint: setup
	$(CARGO) fmt --all -- --check
	cd agent-ebpf/programs && $(CARGO) fmt -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

test: lint
	$(CARGO) test --workspace --locked

bench:
	@scripts/setup.sh --bench
	$(CARGO) bench -p livestatus-e2e --locked

# COMPAT_ARGS narrows the run, e.g. COMPAT_ARGS="--versions 2026.7.1 --scenarios a_channel_tools --tiers auto,inotify"
compat: build
	python3 tests/compat/run.py --binary target/release/openclaw-livestatus $(COMPAT_ARGS)
