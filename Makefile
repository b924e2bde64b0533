# Serin — developer entry points. `make test` is what CI runs (via .ci/run).
CARGO ?= cargo
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: test lint fmt e2e-real sim bench build help generate verify-generated demo

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

demo: ## A real canary rollout, an abort, and an automatic rollback by analysis (kube-sim + real Prometheus)
	@command -v prometheus >/dev/null || [ -x /usr/bin/prometheus ] || { echo "installing prometheus (apt)"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }
	$(CARGO) build -q -p serin-plugin --bin kubectl-serin
	$(CARGO) run -q -p serin-e2e --bin serin-demo

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

generate: ## Regenerate manifests/crds from the API types (serin-api)
	$(CARGO) run -q -p serin-api --bin crdgen

verify-generated: ## Fail when committed generated files drift from their sources
	$(CARGO) run -q -p serin-api --bin crdgen -- --check

e2e-real: ## Run every e2e test against the real cluster in $KUBECONFIG
	@test -n "$$KUBECONFIG" || { echo "make e2e-real needs KUBECONFIG pointing at a real cluster" >&2; exit 2; }
	SERIN_E2E_REAL=1 $(CARGO) test -p serin-e2e --tests -- --test-threads=4

sim: ## Start kube-sim on port 6443 with ./kube-sim.kubeconfig (Ctrl-C to stop)
	$(CARGO) run --release -p serin-e2e --bin kube-sim -- --port 6443 --kubeconfig kube-sim.kubeconfig

# How long `make bench` measures the AnalysisRun schedule (Go duration); shorten with BENCH_ANALYSIS_DURATION=1m.
BENCH_ANALYSIS_DURATION ?= 10m

bench: ## Performance figures (tables, not pass/fail): kube-sim at scale, then AnalysisRun schedule drift (200 runs, 5s interval, BENCH_ANALYSIS_DURATION, default 10m)
	$(CARGO) run --release -p serin-e2e --bin sim-bench
	$(CARGO) run --release -p serin-e2e --bin analysis-bench -- --duration $(BENCH_ANALYSIS_DURATION)
