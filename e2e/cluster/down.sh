#!/usr/bin/env bash
# Stop the local control plane started by up.sh for THIS checkout's state dir
# (.cluster/, or SREC_CLUSTER_STATE) and remove its state. Processes are found
# by pidfile and checked to belong to this state dir, so another checkout's
# cluster is never touched. With nothing running it succeeds quietly.
#   bash e2e/cluster/down.sh    (npm run cluster:down)
#   KEEP_LOGS=1 bash e2e/cluster/down.sh   keeps .cluster/logs for inspection
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -d "$STATE_DIR" ] || exit 0
lock_state
had=0
for c in "${STOP_ORDER[@]}"; do component_pid "$c" >/dev/null && had=1; done
stop_all
if [ "${KEEP_LOGS:-0}" = 1 ] && [ -d "$LOG_DIR" ]; then
  mv "$LOG_DIR" "$STATE_DIR/.logs-keep"
  remove_state
  mkdir -p "$STATE_DIR" && mv "$STATE_DIR/.logs-keep" "$LOG_DIR" 2>/dev/null || true
else
  remove_state
fi
[ "$had" = 1 ] && log "cluster stopped (state $STATE_DIR removed)"
exit 0
