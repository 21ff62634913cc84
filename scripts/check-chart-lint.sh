#!/usr/bin/env bash
# Run by scripts/test.sh: the chart and what the operator renders, checked with the ecosystem's own
# tools, pinned and installed by scripts/ci-tools.sh:
#   helm lint --strict   the defaults and every charts/srec/ci/*-values.yaml (as ct lint does)
#   yamale               Chart.yaml against chart-testing's chart schema (charts/lint/chart_schema.yaml)
#   yamllint             Chart.yaml, values.yaml and ci/*.yaml with chart-testing's rules (charts/lint/lintconf.yaml)
#   checkov              every render (defaults, each ci values file, with CRDs) and `srec render` of
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
OUT="$(mktemp -d -t srec-chart-lint-XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
t0=$SECONDS
fail=0

for values in '' "$CHART"/ci/*-values.yaml; do
  if ! "$HELM" lint --strict "$CHART" ${values:+-f "$values"} >"$OUT/lint.log" 2>&1; then
    echo "check-chart-lint: helm lint --strict ${values:-(defaults)} failed:" >&2
    cat "$OUT/lint.log" >&2
    fail=1
  fi
done

yamale -s charts/lint/chart_schema.yaml "$CHART/Chart.yaml" >"$OUT/yamale.log" 2>&1 || { cat "$OUT/yamale.log" >&2; fail=1; }
yamllint -c charts/lint/lintconf.yaml "$CHART/Chart.yaml" "$CHART/values.yaml" "$CHART"/ci/*.yaml || fail=1

mkdir -p "$OUT/renders"
"$HELM" template srec "$CHART" -n srec-system --include-crds >"$OUT/renders/defaults.yaml"
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
