#!/usr/bin/env bash
# `npm test`: every test — unit, the real control plane, real rsyslogd, real OpenSSH.
# Installs what it lacks first (Debian packages, npm ci, the control-plane build), so it works
# on a fresh clone. Extra arguments go to jest, e.g. `npm test -- recorder`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
printf '\n==> building the local control plane (cached after the first run)\n'
bash e2e/cluster/build.sh
printf '\n==> checks: generated files match their sources\n'
for check in scripts/check-*.sh; do
  [ -e "$check" ] || continue
  bash "$check"
done
printf '\n==> jest (unit + e2e)\n'
results=$(mktemp -t srec-jest-XXXXXX.json)
set +e
node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --json --outputFile="$results" "$@"
status=$?
set -e
# One plain closing line that any CI can read.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
' "$results" 2>/dev/null || true
rm -f "$results"
exit $status
