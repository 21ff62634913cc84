#!/usr/bin/env bash
# Installs the ecosystem's own chart and manifest checkers, pinned below, from the package registries
# into ${XDG_CACHE_HOME:-$HOME/.cache}/srec/ci-tools/ (beside the control plane's k8s-<hash>/), and
# nothing twice: each tool lives in a folder named by its version, with a .complete stamp.
#   kubeconform                      Go module, `go install` with GOBIN in the cache
#   checkov, yamllint, yamale        PyPI, one venv in the cache
#   @bitnami/readme-generator-for-helm   npm, `npm install --prefix` in the cache
# Not to be had from the registries, and what stands in (see docs/install.md, "CI checks"):
#   chart-testing's `ct lint`  (github.com/helm/chart-testing/v3 is refused by the Go module proxy):
#                              what ct lint runs, run directly: `helm lint --strict` per ci/*-values.yaml,
#                              yamale with ct's chart schema and yamllint with ct's rules (charts/lint/)
#   kube-linter                (golang.stackrox.io/kube-linter is not served): checkov's Kubernetes checks
#
#   bash scripts/ci-tools.sh          install what is missing; print `export PATH=...` for the tools
set -euo pipefail

KUBECONFORM_VERSION=v0.7.0
CHECKOV_VERSION=3.3.30
YAMLLINT_VERSION=1.38.0
YAMALE_VERSION=6.1.0
README_GENERATOR_VERSION=2.7.2

TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/srec/ci-tools"
log() { printf '[%s] ci-tools: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
mkdir -p "$TOOLS"
# One install at a time per cache (several checkouts, or CI and a developer).
exec 8>"$TOOLS/.lock"
flock 8

# A heartbeat while a long step runs, so that a cold install shows it is alive.
with_progress() { # $1=what $2=log file, then the command (its output goes to the log file)
  local what=$1 logfile=$2 t=$SECONDS
  shift 2
  # fd 8 closed: an orphaned `sleep` must not hold the install lock after the step ends.
  ( exec 8>&-; while sleep 30; do log "$what: still running ($((SECONDS - t))s)"; done ) &
  local hb=$! rc=0
  "$@" >"$logfile" 2>&1 || rc=$?
  kill "$hb" 2>/dev/null; wait "$hb" 2>/dev/null || true
  if [ "$rc" != 0 ]; then
    log "FAILED: $what exited $rc; last lines of $logfile:"
    tail -n 20 "$logfile" >&2
    return "$rc"
  fi
  log "$what: done in $((SECONDS - t))s"
}

GO_DIR="$TOOLS/go-kubeconform-$KUBECONFORM_VERSION"
if [ ! -f "$GO_DIR/.complete" ]; then
  command -v go >/dev/null || { log "FAILED: 'go' is needed to install kubeconform"; exit 1; }
  log "installing kubeconform $KUBECONFORM_VERSION (go install)"
  mkdir -p "$GO_DIR/bin"
  with_progress "go install kubeconform" "$GO_DIR/install.log" env GOBIN="$GO_DIR/bin" GOTOOLCHAIN=local GOFLAGS=-mod=mod \
    CGO_ENABLED=0 GOWORK=off go install -trimpath -ldflags='-s -w' "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  touch "$GO_DIR/.complete"
fi

PY_DIR="$TOOLS/py-checkov-$CHECKOV_VERSION-yamllint-$YAMLLINT_VERSION-yamale-$YAMALE_VERSION"
if [ ! -f "$PY_DIR/.complete" ]; then
  if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    # Debian's python3 ships venv's ensurepip separately.
    log "installing Debian packages python3 python3-venv (for the tools' venv)"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3 python3-venv >&2
  fi
  log "installing checkov $CHECKOV_VERSION, yamllint $YAMLLINT_VERSION, yamale $YAMALE_VERSION (pip, venv in $PY_DIR)"
  rm -rf "$PY_DIR"
  python3 -m venv "$PY_DIR"
  with_progress "pip install" "$PY_DIR.install.log" "$PY_DIR/bin/pip" install --disable-pip-version-check --no-input -q \
    "checkov==$CHECKOV_VERSION" "yamllint==$YAMLLINT_VERSION" "yamale==$YAMALE_VERSION"
  touch "$PY_DIR/.complete"
fi

NPM_DIR="$TOOLS/npm-readme-generator-for-helm-$README_GENERATOR_VERSION"
if [ ! -f "$NPM_DIR/.complete" ]; then
  log "installing @bitnami/readme-generator-for-helm $README_GENERATOR_VERSION (npm install --prefix $NPM_DIR)"
  mkdir -p "$NPM_DIR"
  with_progress "npm install" "$NPM_DIR.install.log" npm install --prefix "$NPM_DIR" --no-audit --no-fund --no-save \
    --loglevel=error "@bitnami/readme-generator-for-helm@$README_GENERATOR_VERSION"
  touch "$NPM_DIR/.complete"
fi

echo "export PATH=\"$GO_DIR/bin:$PY_DIR/bin:$NPM_DIR/node_modules/.bin:\$PATH\""
