#!/usr/bin/env bash
# Run by scripts/test.sh: the chart and what the operator renders, checked with the ecosystem's own
# tools, pinned and installed by scripts/ci-tools.sh:
#   helm lint --strict   charts/srec-crds, and charts/srec with its defaults and every ci/*-values.yaml
#                        (as ct lint does)
#   yamale               both Chart.yaml against chart-testing's chart schema (charts/lint/chart_schema.yaml)
#   yamllint             both Chart.yaml and values.yaml, and ci/*.yaml, with chart-testing's rules
#                        (charts/lint/lintconf.yaml)
#   checkov              every render (srec-crds, srec's defaults, each ci values file) and `srec render` of
#                        examples/*.yaml, with the skips of charts/lint/checkov.yaml
# kubeconform needs the API server's own schemas: charts/test/kubeconform.e2e.test.ts runs it.
# chart-testing (ct) and kube-linter are not served by the registries; see scripts/ci-tools.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/ci-tools.sh)"
# shellcheck source=../e2e/cluster/lib.sh
. e2e/cluster/lib.sh
HELM="${HELM:-$K8S_BIN/helm}"
CHART=charts/srec
CRDS_CHART=charts/srec-crds
OUT="$(mktemp -d -t srec-chart-lint-XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
t0=$SECONDS
fail=0

if ! "$HELM" lint --strict "$CRDS_CHART" >"$OUT/lint.log" 2>&1; then
  echo "check-chart-lint: helm lint --strict $CRDS_CHART failed:" >&2
  cat "$OUT/lint.log" >&2
  fail=1
fi
for values in '' "$CHART"/ci/*-values.yaml; do
  if ! "$HELM" lint --strict "$CHART" ${values:+-f "$values"} >"$OUT/lint.log" 2>&1; then
    echo "check-chart-lint: helm lint --strict ${values:-(defaults)} failed:" >&2
    cat "$OUT/lint.log" >&2
    fail=1
  fi
done

for chart in "$CRDS_CHART" "$CHART"; do
  yamale -s charts/lint/chart_schema.yaml "$chart/Chart.yaml" >"$OUT/yamale.log" 2>&1 || { cat "$OUT/yamale.log" >&2; fail=1; }
done
yamllint -c charts/lint/lintconf.yaml "$CRDS_CHART/Chart.yaml" "$CRDS_CHART/values.yaml" "$CHART/Chart.yaml" "$CHART/values.yaml" "$CHART"/ci/*.yaml || fail=1

mkdir -p "$OUT/renders"
"$HELM" template srec-crds "$CRDS_CHART" -n srec-system >"$OUT/renders/srec-crds.yaml"
"$HELM" template srec "$CHART" -n srec-system >"$OUT/renders/defaults.yaml"
for values in "$CHART"/ci/*-values.yaml; do
  "$HELM" template srec "$CHART" -n srec-system -f "$values" >"$OUT/renders/ci-$(basename "$values" -values.yaml).yaml"
done
# `srec render` from the TypeScript sources (no build needed), exactly what the operator would apply.
for cr in examples/*.yaml; do
  node --import ./testing/ts-register.mjs --input-type=module \
    -e "const { main } = await import('./cli.ts'); process.exitCode = await main(process.argv.slice(1));" \
    render -f "$cr" >"$OUT/renders/srec-render-$(basename "$cr")"
done
if ! checkov --config-file charts/lint/checkov.yaml -d "$OUT/renders" >"$OUT/checkov.log" 2>&1; then
  echo "check-chart-lint: checkov found problems (skips with reasons: charts/lint/checkov.yaml):" >&2
  cat "$OUT/checkov.log" >&2
  fail=1
fi

if [ "$fail" = 1 ]; then
  echo "check-chart-lint: FAILED" >&2
  exit 1
fi
echo "check-chart-lint: helm lint, yamale, yamllint and checkov ($(grep -o 'Passed checks: [0-9]*' "$OUT/checkov.log" || echo '?')) passed over $(ls "$OUT/renders" | wc -l) renders in $((SECONDS - t0))s"
