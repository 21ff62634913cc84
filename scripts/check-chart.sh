#!/usr/bin/env bash
# Run by scripts/test.sh (and so CI): the chart's CRDs, its values schema, @param texts, the README's
# CR reference and manifests/ match their sources.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/sync-crds.sh --check
node scripts/gen-values-schema.mjs --check
bash scripts/gen-manifests.sh --check
