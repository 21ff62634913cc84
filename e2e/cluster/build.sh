#!/usr/bin/env bash
# Build the local control plane binaries from Go modules, pinned in versions.env,
# into ${XDG_CACHE_HOME:-$HOME/.cache}/srec/k8s-<hash of versions.env>/bin/.
# Rebuilds only when versions.env changes (the hash names the directory; a
# .complete stamp marks a finished build; each finished component is kept, so
# an interrupted build resumes where it stopped).
#
# Usage: bash e2e/cluster/build.sh [--force]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

# What each component's .stamp-<name> must say for the build to be current: the package, plus for
# helm the Kubernetes version its lint and `helm template` assume (chartutil / lint/rules
# k8sVersionMajor/Minor, v1.20 when not set), so that a chart's kubeVersion is checked against the
# cluster it is tested on. A stamp that says otherwise (a build from before) rebuilds that one only.
K8S_MINOR="$(echo "$K8S_VERSION" | cut -d. -f2)"
HELM_STAMP="helm.sh/helm/v3/cmd/helm kubernetes=v1.$K8S_MINOR"
stamps_current() { [ "$(cat "$K8S_BIN/.stamp-helm" 2>/dev/null)" = "$HELM_STAMP" ]; }

if [ "$FORCE" = 0 ] && binaries_ready && stamps_current; then
  log "binaries up to date in $K8S_BIN"
  exit 0
fi

command -v go >/dev/null || { log "FAILED: 'go' not found in PATH (Go >= 1.26 is needed to build the cluster binaries)"; exit 1; }
command -v flock >/dev/null || { log "FAILED: 'flock' not found (util-linux)"; exit 1; }

mkdir -p "$K8S_BIN" "$K8S_CACHE/src"
# One build at a time per cache dir (two checkouts or CI + a developer).
exec 9>"$K8S_CACHE/.build.lock"
if ! flock -n 9; then
  log "another build of $K8S_CACHE is running; waiting for it"
  flock 9
fi
if [ "$FORCE" = 0 ] && binaries_ready && stamps_current; then
  log "binaries up to date in $K8S_BIN"
  exit 0
fi
[ "$FORCE" = 1 ] && rm -f "$K8S_STAMP" "$K8S_BIN"/.stamp-*

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 GOWORK=off
LDFLAGS_BASE="-s -w"
T0=$SECONDS

# --- go.mod generation -------------------------------------------------------

# $1=dir $2=module requirement line(s) $3=extra (replace block)
write_gomod() {
  local dir=$1
  mkdir -p "$dir"
  {
    echo "module srec.local/clusterbuild"
    echo
    echo "go 1.26.0"
    echo
    printf '%s\n' "$2"
    printf '%s\n' "${3:-}"
  } >"$dir/go.mod"
}

setup_kube_module() {
  local dir="$K8S_CACHE/src/kubernetes"
  [ -f "$dir/.ready" ] && return 0
  log "resolving k8s.io/kubernetes@$K8S_VERSION (staging modules -> $K8S_STAGING_VERSION)"
  # Fetch k8s.io/kubernetes' go.mod to learn its staging modules.
  local modfile
  modfile="$(cd "$K8S_CACHE" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [ -f "$modfile" ] || { log "FAILED: could not download k8s.io/kubernetes@$K8S_VERSION"; return 1; }
  local replaces
  replaces="replace ("$'\n'"$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*#\t\1 => \1 '"$K8S_STAGING_VERSION"'#p' "$modfile")"$'\n'")"
  write_gomod "$dir" "require k8s.io/kubernetes $K8S_VERSION" "$replaces"
  # Bring in everything the kubernetes module requires, with its exact versions
  # (its go.mod pins the whole graph; copying the require block avoids MVS drift).
  awk '/^require \(/{f=1;next} f&&/^\)/{f=0} f && $1 !~ /^k8s\.io\// && $1 !~ /^\/\// {print "require " $1 " " $2}' "$modfile" >>"$dir/go.mod"
  touch "$dir/.ready"
}

setup_simple_module() { # $1=name $2=require lines $3=main.go (optional)
  local dir="$K8S_CACHE/src/$1"
  [ -f "$dir/.ready" ] && return 0
  write_gomod "$dir" "$2"
  [ -n "${3:-}" ] && printf '%s\n' "$3" >"$dir/main.go"
  touch "$dir/.ready"
}

# --- building ----------------------------------------------------------------

FAILED_LOG=""
build_one() { # $1=component $2=module dir $3=package $4=ldflags [$5=stamp text, default the package]
  local name=$1 dir=$2 pkg=$3 ldflags="$LDFLAGS_BASE ${4:-}" want="${5:-$3}"
  local stamp="$K8S_BIN/.stamp-$name"
  if [ -x "$K8S_BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    log "[$name] already built, skipping"
    return 0
  fi
  local t=$SECONDS blog="$K8S_CACHE/build-$name.log"
  log "[$name] building $pkg ..."
  # Print a heartbeat so long compiles show progress.
  ( while sleep 60; do log "[$name] still building ($((SECONDS - t))s, total $((SECONDS - T0))s)"; done ) &
  local hb=$!
  local rc=0
  (cd "$dir" && go build -trimpath -ldflags="$ldflags" -o "$K8S_BIN/$name.tmp" "$pkg") >"$blog" 2>&1 || rc=$?
  kill "$hb" 2>/dev/null; wait "$hb" 2>/dev/null || true
  if [ "$rc" != 0 ]; then
    log "FAILED: building $name ($pkg) exited $rc; last lines of $blog:"
    tail -n 30 "$blog" >&2
    FAILED_LOG=$blog
    return 1
  fi
  mv -f "$K8S_BIN/$name.tmp" "$K8S_BIN/$name"
  echo "$want" >"$stamp"
  log "[$name] done in $((SECONDS - t))s (total $((SECONDS - T0))s)"
}

BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
kube_ldflags() {
  local v
  for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf ' -X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean -X %s.buildDate=%s -X %s.gitCommit=%s' \
      "$v" "$K8S_VERSION" "$v" "$v" "$K8S_MINOR" "$v" "$v" "$BUILD_DATE" "$v" "0000000000000000000000000000000000000000"
  done
}

log "building cluster binaries into $K8S_BIN (pins: $VERSIONS_FILE, hash $VERSIONS_HASH; $(go version))"

# etcd: a 3-line main around etcdmain, as etcd's own main.go does.
setup_simple_module etcd "require go.etcd.io/etcd/server/v3 $ETCD_VERSION" 'package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }'
build_one etcd "$K8S_CACHE/src/etcd" . \
  "-X go.etcd.io/etcd/api/v3/version.GitSHA=srec-${ETCD_VERSION}"

setup_kube_module
KLD="$(kube_ldflags)"
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build_one "$c" "$K8S_CACHE/src/kubernetes" "k8s.io/kubernetes/cmd/$c" "$KLD"
done

setup_simple_module kwok "require sigs.k8s.io/kwok $KWOK_VERSION"
build_one kwok "$K8S_CACHE/src/kwok" sigs.k8s.io/kwok/cmd/kwok \
  "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"

setup_simple_module helm "require helm.sh/helm/v3 $HELM_VERSION"
build_one helm "$K8S_CACHE/src/helm" helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION $(for p in chartutil lint/rules; do
    printf ' -X helm.sh/helm/v3/pkg/%s.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/%s.k8sVersionMinor=%s' "$p" "$p" "$K8S_MINOR"
  done)" "$HELM_STAMP"

# The real node (node.sh): kubelet and kube-proxy from the same module as the control plane, so that
# the node runs exactly the version the API server is.
for c in kubelet kube-proxy; do
  build_one "$c" "$K8S_CACHE/src/kubernetes" "k8s.io/kubernetes/cmd/$c" "$KLD"
done

# CoreDNS with the plugins of node.sh's Corefile only: its own main links every plugin, and with them
# the SDKs of every cloud DNS provider, which would double this build's time for nothing used here.
setup_simple_module coredns "require github.com/coredns/coredns $COREDNS_VERSION" 'package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }'
build_one coredns "$K8S_CACHE/src/coredns" . \
  "-X github.com/coredns/coredns/coremain.GitCommit=srec-${COREDNS_VERSION}"

# pause: every pod's sandbox process (no registry to pull the usual image from). It holds the pod's
# namespaces, reaps the zombies of a pod that shares its process namespace, and exits on SIGINT/SIGTERM.
setup_simple_module pause "" 'package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}'
build_one pause "$K8S_CACHE/src/pause" . ""

echo "$VERSIONS_HASH" >"$K8S_STAMP"
log "all cluster binaries built in $((SECONDS - T0))s -> $K8S_BIN"
