#!/usr/bin/env bash
# Run by scripts/test.sh: charts/srec/README.md's parameter tables are what
# @bitnami/readme-generator-for-helm (pinned in scripts/ci-tools.sh) makes of the `## @param` lines of
# charts/srec/values.yaml, which it also checks: every value has one, and every one names a value.
#   bash scripts/check-chart-readme.sh           change nothing; exit 1 with a diff when README.md is stale
#   bash scripts/check-chart-readme.sh --write   regenerate the tables in charts/srec/README.md
set -euo pipefail
cd "$(dirname "$0")/.."
WRITE=0
case "${1:-}" in
  --write) WRITE=1 ;;
  '') ;;
  *) echo "usage: $0 [--write]" >&2; exit 2 ;;
esac
eval "$(bash scripts/ci-tools.sh)"
README=charts/srec/README.md
tmp="$(mktemp -t srec-chart-readme-XXXXXX.md)"
trap 'rm -f "$tmp" "$tmp.log"' EXIT
cp "$README" "$tmp"
if ! readme-generator --values charts/srec/values.yaml --readme "$tmp" >"$tmp.log" 2>&1; then
  echo "check-chart-readme: readme-generator refused charts/srec/values.yaml's ## @param lines:" >&2
  grep -E '^(ERROR|WARN)' "$tmp.log" >&2 || cat "$tmp.log" >&2
  exit 1
fi
if [ "$WRITE" = 1 ]; then
  cp "$tmp" "$README"
  echo "check-chart-readme: wrote the parameter tables of $README"
elif ! diff -u "$README" "$tmp" >&2; then
  echo "check-chart-readme: $README is stale (run: bash scripts/check-chart-readme.sh --write)" >&2
  exit 1
else
  echo "check-chart-readme: $README matches the ## @param lines of charts/srec/values.yaml"
fi
