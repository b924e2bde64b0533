# Serin — developer entry points. `make test` is what CI runs (via .ci/run).
CARGO ?= cargo
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: test lint fmt e2e-real sim bench build help generate verify-generated demo image

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

demo: ## A real canary rollout, an abort, and an automatic rollback by analysis (kube-sim + real Prometheus)
	@command -v prometheus >/dev/null || [ -x /usr/bin/prometheus ] || { echo "installing prometheus (apt)"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }
	$(CARGO) build -q -p serin-plugin --bin kubectl-serin
	$(CARGO) run -q -p serin-e2e --bin serin-demo

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
IMAGE := target/image/serin-controller-$(VERSION).oci.tar

image: ## Container image as an OCI archive, no container engine needed: target/image/serin-controller-<version>.oci.tar and .digest
	@command -v skopeo >/dev/null || { echo "installing skopeo (apt), to check the archive"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends skopeo; }
	$(CARGO) build --release --locked -p serin-controller -p serin-plugin -p serin-image
	target/release/serin-image --controller target/release/serin-controller --plugin target/release/kubectl-serin \
	  --out target/image --version $(VERSION) --revision "$$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
	  --created "$$(git log -1 --format=%ct 2>/dev/null || echo 0)"
	skopeo inspect oci-archive:$(IMAGE) >/dev/null && echo "skopeo reads $(IMAGE)"

build: ## Build every crate
	$(CARGO) build --workspace --all-targets

test: ## Unit, conformance and scenario tests (kube-sim in-process, real kubectl)
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --workspace --no-fail-fast
else
	$(CARGO) test --workspace --no-fail-fast
endif

lint: ## rustfmt check + clippy (pedantic, warnings are errors)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## Format the tree
	$(CARGO) fmt --all

generate: ## Regenerate manifests/crds from the API types (serin-api) and kube-sim's protobuf decoders (kube-sim-codegen)
	$(CARGO) run -q -p serin-api --bin crdgen
	$(CARGO) run -q -p kube-sim-codegen

verify-generated: ## Fail when committed generated files drift from their sources
	$(CARGO) run -q -p serin-api --bin crdgen -- --check
	$(CARGO) run -q -p kube-sim-codegen -- --check

e2e-real: ## Every e2e test against a real API server: a fresh ../shared/realk8s control plane (started and removed here), or the throwaway cluster in $KUBECONFIG
	e2e/run-real.sh

sim: ## Start kube-sim on port 6443 with ./kube-sim.kubeconfig (Ctrl-C to stop)
	$(CARGO) run --release -p kube-sim --bin kube-sim -- --port 6443 --kubeconfig kube-sim.kubeconfig

# How long `make bench` measures the AnalysisRun schedule (Go duration); shorten with BENCH_ANALYSIS_DURATION=1m.
BENCH_ANALYSIS_DURATION ?= 10m

bench: ## Performance figures (tables, not pass/fail): kube-sim at scale, leader failover, then AnalysisRun schedule drift (200 runs, 5s interval, BENCH_ANALYSIS_DURATION, default 10m)
	$(CARGO) run --release -p serin-e2e --bin sim-bench
	$(CARGO) build --release -p serin-e2e --bin serin-controller-e2e --bin failover-bench
	target/release/failover-bench
	$(CARGO) run --release -p serin-e2e --bin analysis-bench -- --duration $(BENCH_ANALYSIS_DURATION)
