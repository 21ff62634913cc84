# shellcheck shell=bash
# Shared helpers for build.sh / up.sh / down.sh. Sourced, not executed.

CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CLUSTER_DIR/../.." && pwd)"
VERSIONS_FILE="$CLUSTER_DIR/versions.env"

# shellcheck source=versions.env
. "$VERSIONS_FILE"

VERSIONS_HASH="$(sha256sum "$VERSIONS_FILE" | cut -c1-12)"
SREC_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/srec"
K8S_CACHE="$SREC_CACHE/k8s-$VERSIONS_HASH"
K8S_BIN="$K8S_CACHE/bin"
K8S_STAMP="$K8S_BIN/.complete"

# Everything up.sh/build.sh produces, in build order. kubelet, kube-proxy and coredns run the one real
# node (node.sh); they come after the control plane so that an interrupted cold build has that first.
K8S_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm kubelet kube-proxy coredns pause)

binaries_ready() {
  [ -f "$K8S_STAMP" ] || return 1
  local c
  for c in "${K8S_COMPONENTS[@]}"; do [ -x "$K8S_BIN/$c" ] || return 1; done
}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# A kubeconfig at $1 for the client certificate $2 (in $PKI_DIR) against the API server at $3, written with
# the kubectl at $4; readable by its owner only.
write_kubeconfig() {
  local f=$1 cert=$2 server=$3 kubectl=$4
  "$kubectl" config --kubeconfig "$f" set-cluster srec --server "$server" --certificate-authority "$PKI_DIR/ca.crt" --embed-certs >/dev/null
  "$kubectl" config --kubeconfig "$f" set-credentials "$cert" --client-certificate "$PKI_DIR/$cert.crt" --client-key "$PKI_DIR/$cert.key" --embed-certs >/dev/null
  "$kubectl" config --kubeconfig "$f" set-context srec --cluster srec --user "$cert" >/dev/null
  "$kubectl" config --kubeconfig "$f" use-context srec >/dev/null
  chmod 600 "$f"
}

# --- cluster state ------------------------------------------------------------
# All state of one cluster lives in one directory (default: <repo>/.cluster).
STATE_DIR="${SREC_CLUSTER_STATE:-$REPO_ROOT/.cluster}"
PID_DIR="$STATE_DIR/pids"
LOG_DIR="$STATE_DIR/logs"
PKI_DIR="$STATE_DIR/pki"
# --- the real node (node.sh) ----------------------------------------------------------------------------
# Named after the state dir, so that two checkouts' nodes never meet and down.sh finds its own by name.
STATE_ID="$(printf '%s' "$STATE_DIR" | sha256sum | cut -c1-8)"
NODE_DIR="$STATE_DIR/node"
NODE_SOCK="$NODE_DIR/containerd.sock"
NODE_CGROUP="srec-node-$STATE_ID"
NODE_VETH="srn$STATE_ID"
NODE_NAME="srec-node"
# Tainted, so that the kwok tests' pods (whose images exist nowhere) never land on it; real-pod tests
# put their namespaces there with PodNodeSelector/PodTolerationRestriction annotations (e2e/support).
NODE_TAINT="real-node=true:NoSchedule"
NODE_POD_CIDR="10.244.0.0/24"
NODE_CNI_BIN="${SREC_CNI_BIN:-/usr/lib/cni}"
NODE_PAUSE_IMAGE="srec.local/pause:3.10"
# buildah's image store: kept between runs (a warm image:build reuses its layers), one user at a time.
BUILDAH_ROOT="$SREC_CACHE/buildah"
# buildah, with its mounts in a private mount namespace (gone when it exits, even when killed) and a run
# root of its own each time (so a killed build leaves no mount records behind), one at a time per store.
node_buildah() {
  mkdir -p "$BUILDAH_ROOT/storage"
  local run rc=0
  run="$(mktemp -d -t srec-buildah-run-XXXXXX)"
  mkdir -p "$BUILDAH_ROOT"/{var-lib,var-cache,tmp,etc/upper,etc/work}
  # buildah also writes where no flag moves it: a blob cache in /var/lib/containers, a short-name alias
  # cache in /var/cache/containers, its network backend's /etc/cni. In its mount namespace /var/lib and
  # /var/cache are folders of its store, and /etc is an overlay whose writes land there too.
  flock "$BUILDAH_ROOT/.lock" unshare --mount --propagation private -- bash -c '
    r=$1; shift
    mount --bind "$r/var-lib" /var/lib && mount --bind "$r/var-cache" /var/cache &&
      mount -t overlay srec-buildah-etc -o "lowerdir=/etc,upperdir=$r/etc/upper,workdir=$r/etc/work" /etc &&
      TMPDIR="$r/tmp" exec buildah "$@"' _ "$BUILDAH_ROOT" \
    --root "$BUILDAH_ROOT/storage" --runroot "$run" --storage-driver overlay "$@" || rc=$?
  rm -rf "$run"
  return $rc
}

# The node's /30 to the host: 10.250.<n>.0, <n> from the state dir's name, the next free one if taken.
# Prints NODE_HOST_IP= and NODE_IP= lines for ports.env.
node_plan() {
  local n=$((16#${STATE_ID:0:4} % 250 + 1)) i
  for ((i = 0; i < 250; i++)); do
    if ! ip -4 -o addr show 2>/dev/null | grep -q " 10\.250\.$n\."; then
      echo "NODE_HOST_IP=10.250.$n.1"
      echo "NODE_IP=10.250.$n.2"
      return 0
    fi
    n=$((n % 250 + 1))
  done
  return 1
}

# Stop order (reverse of start order).
STOP_ORDER=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)

# True while pid $1 exists and is not a zombie (an exited daemon whose parent,
# init, has not reaped it yet counts as gone).
pid_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local st
  st="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
  [ -n "$st" ] && [ "$st" != Z ]
}

# pid of component $1 if it is alive AND belongs to this state dir, else fails.
# (Its command line names files under $STATE_DIR, so a reused pid or another
# checkout's cluster is never mistaken for ours.)
component_pid() {
  local f="$PID_DIR/$1.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$STATE_DIR/" || return 1
  echo "$pid"
}

# wait up to $2 tenths of a second for pid $1 to be gone
wait_gone() {
  local i
  for ((i = 0; i < $2; i++)); do pid_alive "$1" || return 0; sleep 0.1; done
  ! pid_alive "$1"
}

# Stop every component of this state dir: SIGTERM, wait up to 5 s, then SIGKILL
# (the state is thrown away anyway; an API server with open watches would
# otherwise take up to its 60 s shutdown timeout).
# In stages - clients first, then the API server, then etcd - so that none of
# them waits on a dependency that is already gone.
stop_group() {
  local c pid i
  local -a pids=() names=()
  for c in "$@"; do
    if pid="$(component_pid "$c")"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$c")
    fi
  done
  for i in "${!pids[@]}"; do
    pid=${pids[$i]}
    wait_gone "$pid" 50 && continue
    log "${names[$i]} (pid $pid) still running 5s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 50 || log "${names[$i]} (pid $pid) still there after SIGKILL"
  done
}
stop_all() {
  # The real node first: its kubelet would otherwise keep calling an API server that is going away.
  bash "$CLUSTER_DIR/node.sh" down 8>&- || true
  stop_group kwok kube-scheduler kube-controller-manager
  stop_group kube-apiserver
  stop_group etcd
  rm -f "$PID_DIR"/*.pid 2>/dev/null || true
}

# Remove what up.sh creates in the state dir (only those entries, never the dir blindly).
remove_state() {
  [ -d "$STATE_DIR" ] || return 0
  rm -rf "$PID_DIR" "$LOG_DIR" "$PKI_DIR" "$STATE_DIR/etcd" "$STATE_DIR/kubeconfigs" \
    "$STATE_DIR/kubeconfig" "$STATE_DIR/ports.env" "$STATE_DIR/cluster.env" "$STATE_DIR/node.env" "$NODE_DIR"
  rmdir "$STATE_DIR" 2>/dev/null || true
}

# Serialize up.sh/down.sh runs on one state dir (two jest runs, a run and a down).
# The lock file lives outside the state dir (down removes that), named after it.
lock_state() {
  exec 8>"${TMPDIR:-/tmp}/srec-cluster-$(printf '%s' "$STATE_DIR" | sha256sum | cut -c1-16).lock"
  if ! flock -n 8; then
    log "another up/down of $STATE_DIR is running; waiting for it"
    flock 8
  fi
}
