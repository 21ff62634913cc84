#!/usr/bin/env bash
# `npm test`: every test — unit, the real control plane, real rsyslogd, real OpenSSH.
# Installs what it lacks first (Debian packages, npm ci, the control-plane build), so it works
# on a fresh clone. Extra arguments go to jest, e.g. `npm test -- recorder`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
printf '\n==> building the local control plane (cached after the first run)\n'
bash e2e/cluster/build.sh
# The image the real-node tests run (e2e/real-node.e2e.test.ts), built before jest so that its minutes of
# compiling do not slow the tests running beside it; the test then only loads it into the node. Where
# this machine cannot run the real node the build is left out, and a failed build is left to that test
# to report (it builds again and shows why).
node_missing="$(bash e2e/cluster/node.sh check)"
if [ "${SREC_REAL_NODE:-1}" != 0 ] && [ -z "$node_missing" ]; then
  printf '\n==> building the srec image (npm run image:build; cached after the first run)\n'
  SREC_IMAGE_NO_LOAD=1 bash scripts/image-build.sh || printf 'image:build failed; the real-node tests will say why\n'
else
  printf '\n==> no image build: the real node cannot run here (%s)\n' "${node_missing:-SREC_REAL_NODE=0}"
fi
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
