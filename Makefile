# The two commands a new machine needs (see README.md):
#   make watch   installs what is needed, builds, and shows this host's OpenClaw sessions live
#   make test    installs what is needed and runs every check and test (what CI runs)
SHELL := /bin/bash
CARGO ?= cargo
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: setup build watch demo test lint bench package test-service

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

# The .deb and .rpm (target/package/), linted; needs root the first time (apt-get).
package:
	@packaging/build.sh

# The unit under a real systemd: a Debian 12 container booted with systemd-nspawn (root).
test-service: package
	@tests/service/run.sh
