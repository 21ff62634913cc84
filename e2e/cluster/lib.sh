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

# Everything up.sh/build.sh produces, in build order.
K8S_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm)

binaries_ready() {
  [ -f "$K8S_STAMP" ] || return 1
  local c
  for c in "${K8S_COMPONENTS[@]}"; do [ -x "$K8S_BIN/$c" ] || return 1; done
}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- cluster state ------------------------------------------------------------
# All state of one cluster lives in one directory (default: <repo>/.cluster).
STATE_DIR="${SREC_CLUSTER_STATE:-$REPO_ROOT/.cluster}"
PID_DIR="$STATE_DIR/pids"
LOG_DIR="$STATE_DIR/logs"
PKI_DIR="$STATE_DIR/pki"
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
  stop_group kwok kube-scheduler kube-controller-manager
  stop_group kube-apiserver
  stop_group etcd
  rm -f "$PID_DIR"/*.pid 2>/dev/null || true
}

# Remove what up.sh creates in the state dir (only those entries, never the dir blindly).
remove_state() {
  [ -d "$STATE_DIR" ] || return 0
  rm -rf "$PID_DIR" "$LOG_DIR" "$PKI_DIR" "$STATE_DIR/etcd" "$STATE_DIR/kubeconfigs" \
    "$STATE_DIR/kubeconfig" "$STATE_DIR/ports.env" "$STATE_DIR/cluster.env"
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
