#!/usr/bin/env bash
# Copies the CRDs into the chart: crds/*.yaml is the one source, charts/srec/crds/ a verbatim copy
# (Helm installs crds/ before the templates and never deletes them).
#
#   bash scripts/sync-crds.sh           copy, and remove chart copies whose source is gone
#   bash scripts/sync-crds.sh --check   change nothing; exit 1 naming each file that differs
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=crds
DST=charts/srec/crds
CHECK=0
case "${1:-}" in
  --check) CHECK=1 ;;
  '') ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

shopt -s nullglob
sources=("$SRC"/*.yaml)
if [ "${#sources[@]}" -eq 0 ]; then
  echo "sync-crds: no CRDs in $SRC/ (expected $SRC/sessionrecordings.recording.privx.io.yaml)" >&2
  exit 1
fi

drift=()
for f in "${sources[@]}"; do
  copy="$DST/$(basename "$f")"
  if ! cmp -s "$f" "$copy"; then
    drift+=("$copy")
    [ "$CHECK" = 1 ] || { mkdir -p "$DST"; cp "$f" "$copy"; }
  fi
done
for copy in "$DST"/*; do
  if [ ! -e "$SRC/$(basename "$copy")" ]; then
    drift+=("$copy (no $SRC/$(basename "$copy"))")
    [ "$CHECK" = 1 ] || rm -f "$copy"
  fi
done

if [ "$CHECK" = 1 ]; then
  if [ "${#drift[@]}" -gt 0 ]; then
    echo "sync-crds: the chart's CRDs differ from $SRC/ (run: bash scripts/sync-crds.sh):" >&2
    printf '  %s\n' "${drift[@]}" >&2
    exit 1
  fi
  echo "sync-crds: $DST matches $SRC/"
else
  echo "sync-crds: ${#drift[@]} file(s) updated in $DST"
fi
