#!/usr/bin/env bash
# `make e2e-real`: every e2e test (Serin's scenarios and kube-sim's conformance tests) against a real API server.
#
# With KUBECONFIG set, that cluster is used: it must be a throwaway one, because the suite installs Serin's CRDs and
# the reduced router CRDs of e2e/crds (Gateway API, Istio, Traefik, SMI) cluster-wide and creates a namespace per
# test. Without KUBECONFIG, a fresh control plane from ../shared/realk8s (kube-apiserver, controller-manager and
# scheduler with etcd on loopback, and a fake kubelet) is started in a temporary directory on a free port, and
# stopped and deleted at the end, whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."

REALK8S=${REALK8S:-../shared/realk8s}
log() { printf '\n=== %s\n' "$*" >&2; }

if [ -z "${KUBECONFIG:-}" ]; then
  if [ ! -f "$REALK8S/up.sh" ]; then
    echo "make e2e-real: set KUBECONFIG to a throwaway cluster, or provide a realk8s control plane in $REALK8S" >&2
    exit 2
  fi
  REALK8S_HOME=$(mktemp -d "${TMPDIR:-/tmp}/serin-realk8s.XXXXXX")
  export REALK8S_HOME REALK8S_PORT=${REALK8S_PORT:-auto}
  stop() {
    log "stopping the control plane"
    bash "$REALK8S/down.sh" --quiet --purge || true
    rm -rf "$REALK8S_HOME"
  }
  trap stop EXIT
  log "starting a real control plane ($REALK8S, state in $REALK8S_HOME)"
  KUBECONFIG=$(bash "$REALK8S/up.sh" --fresh)
  export KUBECONFIG
else
  log "using the cluster of KUBECONFIG=$KUBECONFIG"
fi
kubectl version 2>/dev/null | sed -n 's/^Server Version: /kube-apiserver /p' >&2

log "installing Serin's CRDs and the e2e router CRDs"
kubectl apply --server-side --force-conflicts -k manifests/crds >/dev/null
kubectl apply --server-side --force-conflicts -f e2e/crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s \
  crd/rollouts.argoproj.io crd/analysisruns.argoproj.io crd/analysistemplates.argoproj.io \
  crd/clusteranalysistemplates.argoproj.io crd/experiments.argoproj.io \
  crd/httproutes.gateway.networking.k8s.io crd/virtualservices.networking.istio.io \
  crd/destinationrules.networking.istio.io crd/traefikservices.traefik.io crd/trafficsplits.split.smi-spec.io >/dev/null

log "running the e2e tests (SERIN_E2E_REAL=1)"
export SERIN_E2E_REAL=1
if cargo nextest --version >/dev/null 2>&1; then
  # --workspace with a filter: the same build as `make test` (per-package builds unify features differently).
  cargo nextest run --workspace -E "package(serin-e2e) | package(kube-sim)" --no-fail-fast --test-threads "${E2E_REAL_THREADS:-4}"
else
  cargo test -p serin-e2e -p kube-sim --no-fail-fast -- --test-threads "${E2E_REAL_THREADS:-4}"
fi
