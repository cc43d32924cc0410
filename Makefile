# Thin targets; the logic lives in the crates and in scripts/.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/metal-target
export PEERS_HOME ?= $(HOME)/.cache/metal-peers
export TOOLS_HOME ?= $(HOME)/.cache/metal-tools
export JUDGES_HOME ?= $(HOME)/.cache/metal-judges
export BROWSER_HOME ?= $(HOME)/.cache/metal-browser
PEERS_ENV := source $(PEERS_HOME)/peers.env
TOOLS_ENV := source $(TOOLS_HOME)/tools.env
BROWSER_ENV := source $(BROWSER_HOME)/browser.env

.PHONY: all build toolchain peers browser k8s bmo capi test lint e2e demo bench crds fmt fuzz

all: build

build:
	cargo build --workspace --all-targets

## toolchain: check rustfmt and clippy, build the pinned cargo-nextest if missing (loudly; the suite
## runs one process per test and never falls back to a shared-process `cargo test`).
toolchain:
	bash scripts/toolchain.sh

## k8s: build the real control plane the tests are judged by (kube-apiserver, kube-controller-manager,
## etcd) from the Go modules pinned in judges/kubernetes; cached under ~/.cache/metal-judges.
k8s:
	bash scripts/k8s.sh

## bmo: build upstream Metal3's baremetal-operator from the Go modules pinned in judges/bmo, with its
## CRDs and ClusterRole; cached under ~/.cache/metal-judges. The e2e comparison (tests/upstream_bmo.rs,
## docs/upstream-differences.md) judges our operator by it.
bmo:
	bash scripts/bmo.sh

## capi: build Cluster API core and its Metal3 provider CAPM3 from the Go modules pinned in judges/capi,
## with their CRDs, webhook configurations and ClusterRoles; cached under ~/.cache/metal-judges. Seed 2's
## MachineSet flow (tests/seed_two_capi.rs, docs/capi.md) runs them against both operators.
capi:
	bash scripts/capi.sh

## peers: install the real peer software (ipmitool, freeipmi, OpenIPMI's ipmi_sim, wrk, and a pinned venv with Ironic,
## sushy, sushy-tools, pyghmi, ironicclient, openstacksdk, redfishtool, the DMTF validator).
peers:
	bash scripts/peers.sh

## browser: Debian's chromium and the pinned playwright-core (browser/package-lock.json) for the
## page tests (report.html and metal-sim serve's live view opened headless); cached under ~/.cache/metal-browser.
browser:
	bash scripts/browser.sh

## test: everything, judged by the real peers (REQUIRE_PEERS=1 turns a missing peer into a failure).
test: toolchain peers browser bmo lint
	$(TOOLS_ENV) && $(PEERS_ENV) && $(BROWSER_ENV) && cargo nextest run --workspace --exclude metal-e2e --no-fail-fast
	cargo test --workspace --doc

lint: toolchain
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	bash scripts/check-layers.sh

## crds: regenerate the committed CRD YAML from the Rust types.
crds:
	cargo run -q -p metal-operator -- crds > kind/crds/metal3.io.yaml
	cargo run -q -p metal-operator -- crds --pools > kind/crds/hostpools.yaml

## e2e: the end-to-end suite on the embedded control plane, then on the real kube-apiserver.
e2e: toolchain peers k8s bmo capi
	bash scripts/e2e.sh

## demo: the README's main job.
demo: peers
	bash scripts/demo.sh

## bench: figures side by side with the peers and anchors, printed, then one summary table
## (docs/benchmarks.md; BENCH_PARTS="redfish ipmi" for a subset).
bench: toolchain peers k8s bmo
	bash scripts/bench.sh

## fuzz: every coverage-guided fuzz target (fuzz/, cargo-fuzz + libFuzzer, stable toolchain) for
## FUZZ_SECONDS each (default 20); installs the pinned cargo-fuzz into ~/.cache/metal-fuzz once.
## `make test` runs the smoke version (metal-fuzz's tests/smoke.rs) without cargo-fuzz.
fuzz:
	bash scripts/fuzz.sh

fmt:
	cargo fmt --all
