#!/usr/bin/env bash
# Installs what srec's tests and quickstart need on a fresh Debian machine, and nothing twice:
# Debian packages (OpenSSH, rsyslog with its TLS driver, openssl, chromium for the console's browser tests), the real node, node_modules (npm ci, with ssh2's native crypto
# binding built and its channel window raised) and the JavaScript build. The control plane is built by
# e2e/cluster/build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------
need_pkgs=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need_pkgs+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need_pkgs+=(openssh-client)
[ -x /usr/lib/openssh/sftp-server ] || need_pkgs+=(openssh-sftp-server)
command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ] || need_pkgs+=(rsyslog)
# rsyslog's ossl stream driver (TLS to the SIEM); the library directory depends on the architecture.
compgen -G '/usr/lib/*/rsyslog/lmnsd_ossl.so' >/dev/null || need_pkgs+=(rsyslog-openssl)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
{ command -v flock && command -v setsid; } >/dev/null 2>&1 || need_pkgs+=(util-linux)
command -v script >/dev/null 2>&1 || need_pkgs+=(bsdutils)
# rsync, git and tar over ssh are recorded as stream transfers (recorder/test/stream-transfers.test.ts drives them).
command -v rsync >/dev/null 2>&1 || need_pkgs+=(rsync)
command -v git >/dev/null 2>&1 || need_pkgs+=(git)
# Agent, X11 and Unix-socket forwarding through the recorder (recorder/test/forwarding-channels.test.ts): a real
# X server (Xvfb), xauth on both sides, an X client (xdpyinfo).
[ -x /usr/bin/Xvfb ] || need_pkgs+=(xvfb)
[ -x /usr/bin/xauth ] || need_pkgs+=(xauth)
[ -x /usr/bin/xdpyinfo ] || need_pkgs+=(x11-utils)
# Other clients through the recorder (recorder/test/clients.test.ts): PuTTY's plink, pscp, psftp; paramiko on
# Debian's python3; sshfs (FUSE over sftp).
[ -x /usr/bin/plink ] || need_pkgs+=(putty-tools)
[ -x /usr/bin/sshfs ] || need_pkgs+=(sshfs)
/usr/bin/python3 -c 'import paramiko' >/dev/null 2>&1 || need_pkgs+=(python3-paramiko)
command -v unzip >/dev/null 2>&1 || need_pkgs+=(unzip)
command -v make >/dev/null 2>&1 || need_pkgs+=(make)
command -v g++ >/dev/null 2>&1 || need_pkgs+=(g++)
# The console's tests drive a real headless browser (playwright-core with Debian's chromium, no browser download).
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
# The real node of the local cluster (e2e/cluster/node.sh) and the daemonless image build
# (scripts/image-build.sh): containerd + runc, the CNI plugins, iptables and conntrack for kube-proxy,
# buildah, and mmdebstrap for the locally made base image. SREC_REAL_NODE=0 does without them.
if [ "${SREC_REAL_NODE:-1}" != 0 ]; then
  command -v containerd >/dev/null 2>&1 || need_pkgs+=(containerd)
  command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need_pkgs+=(runc)
  [ -x /usr/lib/cni/bridge ] || need_pkgs+=(containernetworking-plugins)
  command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need_pkgs+=(iptables)
  command -v conntrack >/dev/null 2>&1 || [ -x /usr/sbin/conntrack ] || need_pkgs+=(conntrack)
  command -v buildah >/dev/null 2>&1 || need_pkgs+=(buildah)
  command -v mmdebstrap >/dev/null 2>&1 || need_pkgs+=(mmdebstrap)
  command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
fi
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  step "installing Debian packages: ${need_pkgs[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
fi
# Debian's sshd wants its privilege-separation directory even when started by hand.
[ -d /run/sshd ] || mkdir -p /run/sshd 2>/dev/null || true

# --- node_modules ----------------------------------------------------------------------------
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.srec-lock ] || [ "$(cat node_modules/.srec-lock)" != "$lock_sum" ]; then
  step "npm ci"
  npm ci --no-audit --no-fund
  echo "$lock_sum" > node_modules/.srec-lock
fi
if [ "$(node -e "process.stdout.write(String(require('ssh2/lib/protocol/crypto.js').bindingAvailable))")" != "true" ]; then
  step "building ssh2's native crypto binding"
  npm rebuild ssh2 cpu-features --foreground-scripts
  node -e "if (!require('ssh2/lib/protocol/crypto.js').bindingAvailable) { console.error('ssh2 native crypto binding is not available: AES-GCM would run at half speed'); process.exit(1) }"
fi
# The declared dependency patches (patches/, applied by npm ci's postinstall too): again every time, as
# patch-package skips a patch already applied, and a node_modules installed before a patch existed, or with
# --ignore-scripts, has the same lock stamp. A patch that no longer applies fails here, naming the package.
node node_modules/patch-package/index.js --error-on-fail --error-on-warn

# --- the JavaScript build --------------------------------------------------------------------
step "compiling TypeScript (npm run build)"
npm run -s build
