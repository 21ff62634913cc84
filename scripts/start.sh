#!/usr/bin/env bash
# `npm start`: the local quickstart. Installs what it lacks, brings up the local control plane,
# then runs scripts/quickstart.ts (operator, recorder, rsyslogd, a target sshd, a demo session).
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
node dist/scripts/quickstart.js
