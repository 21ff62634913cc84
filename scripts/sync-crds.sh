#!/usr/bin/env bash
# Copies the CRDs into the srec-crds chart: crds/*.yaml is the one source, charts/srec-crds/templates/
# a verbatim copy. They are the templates of a chart of their own, not a chart's crds/: Helm installs a
# chart's crds/ before it checks any value (so a refused install would leave the CRD behind) and never
# upgrades them; as templates, helm upgrade upgrades them and the srec chart's values are checked before
# anything exists. A CRD must hold no `{{` (it is a template now): this script refuses one that does.
#
#   bash scripts/sync-crds.sh           copy, and remove chart copies whose source is gone
#   bash scripts/sync-crds.sh --check   change nothing; exit 1 naming each file that differs
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=crds
DST=charts/srec-crds/templates
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

for f in "${sources[@]}"; do
  if grep -n '{{' "$f" >&2; then
    echo "sync-crds: $f holds {{ (above): helm would read it as a template; write it otherwise" >&2
    exit 1
  fi
done

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
