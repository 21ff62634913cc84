#!/usr/bin/env bash
# npm run bench [-- NAME...]: the benchmarks of bench/ (docs/bench.md), each in its own process; results are
# JSON lines on stdout, progress on stderr. Installs and builds what they need first: scripts/ensure-deps.sh
# (OpenSSH, rsyslog, node_modules, the build), the programs the size benchmark types into (procps for top,
# vim, less), and for `operator` the control plane (e2e/cluster/build.sh; the benchmark starts and stops
# its own cluster in ${TMPDIR:-/tmp}/srec-bench-cluster).
#
#   BENCH_SCALE=0.1      shrink sizes, counts and durations for a quick look
#   BENCH_CPU_PROF=DIR   run the recorder under node --cpu-prof (read with: node dist/bench/cpuprof.js FILE)
#   BENCH_OPERATOR_IDLE_SECONDS=300   the operator's idle window as the issue states it (default 60)
#   BENCH_KEEP=1         keep the temporary directories
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(throughput parallel latency sessions size sftp search console operator audit)
if [ "$#" -gt 0 ]; then names=("$@"); else names=("${ALL[@]}"); fi
for n in "${names[@]}"; do
  case " ${ALL[*]} " in *" $n "*) ;; *) echo "unknown benchmark '$n' (one of: ${ALL[*]})" >&2; exit 2 ;; esac
done

bash scripts/ensure-deps.sh >&2
need=()
command -v top >/dev/null 2>&1 || need+=(procps)
command -v vim >/dev/null 2>&1 || need+=(vim-tiny)
command -v less >/dev/null 2>&1 || need+=(less)
command -v perl >/dev/null 2>&1 || need+=(perl-base)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
case " ${names[*]} " in *" operator "*) bash e2e/cluster/build.sh >&2 ;; esac

# 550 sessions hold about five descriptors each in the recorder (two sockets, spool files) and as many
# OpenSSH processes: raise the soft limit as far as the hard one allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

status=0
for n in "${names[@]}"; do
  printf '\n==> bench %s (BENCH_SCALE=%s)\n' "$n" "${BENCH_SCALE:-1}" >&2
  node dist/bench/main.js "$n" || { echo "bench $n failed" >&2; status=1; }
done
exit $status
