#!/usr/bin/env bash
# `npm start`: the local quickstart. Installs what it lacks, brings up the local control plane,
# then runs the operator, recorder and rsyslogd as real pods on the cluster's real node
# (scripts/quickstart-pods.ts), or, where that node is not up, as local processes (scripts/quickstart.ts).
# Ctrl-C stops everything it started, the control plane too when this script started it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
printf '\n==> building the local control plane (cached after the first run)\n'
bash e2e/cluster/build.sh
started_cluster=0
if [ -f .cluster/kubeconfig ] && kubectl --kubeconfig .cluster/kubeconfig --request-timeout=3s get --raw /readyz >/dev/null 2>&1; then
  printf '\n==> reusing the running local control plane (.cluster/kubeconfig)\n'
else
  printf '\n==> starting the local control plane\n'
  bash e2e/cluster/up.sh
  started_cluster=1
fi
cleanup() {
  if [ "$started_cluster" = 1 ] && [ "${SREC_KEEP_CLUSTER:-0}" != 1 ]; then
    printf '\n==> stopping the local control plane\n'
    bash e2e/cluster/down.sh
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Real pods where the cluster's real node came up (e2e/cluster/node.sh); local processes otherwise, and
# when SREC_QUICKSTART_PODS=local asks for them.
real_node="$(sed -n 's/^SREC_REAL_NODE=//p' .cluster/cluster.env 2>/dev/null)"
if [ "$real_node" = 1 ] && [ "${SREC_QUICKSTART_PODS:-real}" != local ]; then
  printf '\n==> the real node is up: operator, recorder and rsyslogd run as real pods (the chart, with the image built from the Dockerfile)\n'
  node dist/scripts/quickstart-pods.js
else
  why="$(sed -n 's/^SREC_REAL_NODE_REASON=//p' .cluster/cluster.env 2>/dev/null)"
  [ "${SREC_QUICKSTART_PODS:-}" = local ] && why="SREC_QUICKSTART_PODS=local"
  printf '\n==> operator, recorder and rsyslogd run as local processes: no real node (%s)\n' "${why:-the cluster has no real node}"
  node dist/scripts/quickstart.js
fi
