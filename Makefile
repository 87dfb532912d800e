# The two commands a new machine needs (see README.md):
#   make watch   installs what is needed, builds, and shows this host's OpenClaw sessions live
#   make test    installs what is needed and runs every check and test (what CI runs)
#   make compat  real OpenClaw gateways of every listed version, followed end to end (not in CI:
#                installs each version into /var/cache/openclaw-livestatus-compat; docs/compat.md)
SHELL := /bin/bash
CARGO ?= cargo
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: setup build watch demo test lint bench fuzz-smoke fuzz package test-service test-plugin compat

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
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	cd agent-ebpf/programs && $(CARGO) fmt -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --locked

# The fuzz smoke run and the plugin's tests first; test-plugin also builds
# plugin/build/livestatus-harness, which the cross-language test tests/tests/plugin_delivery.rs
# needs (it fails, saying so, without it). The packages under a real systemd last: on a fresh
# machine they add ~11 min (cargo-deb and cargo-generate-rpm built into .tools/, a release
# build, a Debian 12 rootfs by debootstrap), ~3 min once those exist.
test: lint
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory test-plugin
	$(CARGO) test --workspace --locked
	@$(MAKE) --no-print-directory test-service

# Each fuzz target for FUZZ_SMOKE_SECONDS (20); fails on a crash, OOM or timeout (docs/fuzzing.md).
fuzz-smoke: setup
	@scripts/fuzz.sh smoke

# Long runs: each target for FUZZ_SECONDS (600); new finds stay in fuzz/scratch/.
fuzz: setup
	@scripts/fuzz.sh run

# The load bench runs the release binary as a child (docs/performance.md; LOAD_* env vars);
# plugin_vs_rest runs the plugin under its host harness, built here.
bench:
	@scripts/setup.sh --bench
	$(CARGO) build --release -p openclaw-livestatus --locked
	@$(MAKE) --no-print-directory -C plugin setup harness
	$(CARGO) bench -p livestatus-e2e --locked

# The .deb and .rpm (target/package/), linted; needs root the first time (apt-get).
package:
	@packaging/build.sh

# The unit under a real systemd: a Debian 12 container booted with systemd-nspawn (root).
test-service: package
	@tests/service/run.sh

# The Mattermost plugin's own checks (Go, webapp, plugin host, headless chromium; its `test`
# runs plugin/scripts/setup.sh first), then the plugin host harness for plugin_delivery.rs.
test-plugin:
	$(MAKE) --no-print-directory -C plugin test harness

# COMPAT_ARGS narrows the run, e.g. COMPAT_ARGS="--versions 2026.7.1 --scenarios a_channel_tools --tiers auto,inotify"
compat: build
	python3 tests/compat/run.py --binary target/release/openclaw-livestatus $(COMPAT_ARGS)
