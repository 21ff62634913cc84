#!/usr/bin/env bash
# Run the e2e suite against a kind cluster instead of the local control plane
# (e2e/cluster/up.sh). Needs docker and kind on PATH. NOT run in this project's
# CI or dev machines (no Docker there); kept short so it stays easy to check.
#
#   bash e2e/kind/run.sh [jest args, e.g. a test path pattern]
#   KIND_CLUSTER_NAME=srec-e2e KEEP_CLUSTER=1 bash e2e/kind/run.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NAME="${KIND_CLUSTER_NAME:-srec-e2e}"
for t in docker kind npm; do
  command -v "$t" >/dev/null || { echo "e2e/kind/run.sh: '$t' not found" >&2; exit 1; }
done

created=0
if ! kind get clusters 2>/dev/null | grep -qx "$NAME"; then
  kind create cluster --name "$NAME" --wait 180s
  created=1
fi
cleanup() { if [ "$created" = 1 ] && [ "${KEEP_CLUSTER:-0}" != 1 ]; then kind delete cluster --name "$NAME"; fi; }
trap cleanup EXIT

mkdir -p "$ROOT/.cluster"
kind get kubeconfig --name "$NAME" >"$ROOT/.cluster/kubeconfig"
chmod 600 "$ROOT/.cluster/kubeconfig"

# Real nodes pull real images: use the pause image the kind node already has
# (the suite's default image name only works with kwok's fake nodes).
SREC_E2E_IMAGE="$(docker exec "$NAME-control-plane" crictl images | awk '$1 ~ /pause$/ {print $1 ":" $2; exit}')"
export SREC_E2E_IMAGE

cd "$ROOT"
SREC_CLUSTER=external SREC_KUBECONFIG="$ROOT/.cluster/kubeconfig" \
  node --experimental-vm-modules node_modules/jest/bin/jest.js "$@" --selectProjects e2e
