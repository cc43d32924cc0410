# Thin targets; the logic lives in the crates and in scripts/.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/metal-target
export PEERS_HOME ?= $(HOME)/.cache/metal-peers
PEERS_ENV := source $(PEERS_HOME)/peers.env
NEXTEST := $(shell cargo nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: all build peers test lint e2e demo bench crds fmt

all: build

build:
	cargo build --workspace --all-targets

## peers: install the real peer software (ipmitool, freeipmi, wrk, and a pinned venv with Ironic,
## sushy, sushy-tools, pyghmi, ironicclient, openstacksdk, redfishtool, the DMTF validator).
peers:
	bash scripts/peers.sh

## test: everything, judged by the real peers (REQUIRE_PEERS=1 turns a missing peer into a failure).
test: peers lint
ifeq ($(NEXTEST),yes)
	$(PEERS_ENV) && cargo nextest run --workspace --exclude metal-e2e --no-fail-fast
	cargo test --workspace --doc
else
	$(PEERS_ENV) && cargo test --workspace --exclude metal-e2e --no-fail-fast
endif

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## crds: regenerate the committed CRD YAML from the Rust types.
crds:
	cargo run -q -p metal-operator -- crds > kind/crds/metal3.io.yaml
	cargo run -q -p metal-operator -- crds --pools > kind/crds/hostpools.yaml

e2e: peers
	bash scripts/e2e.sh

## demo: the README's main job.
demo: peers
	bash scripts/demo.sh

## bench: figures side by side with the peers, printed.
bench: peers
	bash scripts/bench.sh

fmt:
	cargo fmt --all
