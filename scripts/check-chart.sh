#!/usr/bin/env bash
# Run by scripts/test.sh (and so CI): the chart's CRDs and manifests/ match their sources.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/sync-crds.sh --check
bash scripts/gen-manifests.sh --check
