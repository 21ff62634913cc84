#!/usr/bin/env bash
# The one real node beside the kwok nodes: containerd + runc, kubelet, kube-proxy (iptables), the CNI
# bridge/host-local/portmap/loopback plugins and CoreDNS, all in a network namespace and a private mount
# namespace of their own, and all their processes in one cgroup of their own, so that the host's
# iptables, sysctls, ports, mounts and /run are never touched and `down` leaves nothing behind.
#
#   bash e2e/cluster/node.sh up      (up.sh calls it once the control plane is ready)
#   bash e2e/cluster/node.sh down    (down.sh calls it first)
#   bash e2e/cluster/node.sh check   prints why this machine cannot run the node, or nothing
#
# `up` needs the addresses and certificates up.sh planned (node_plan in lib.sh). It writes
# $STATE_DIR/node.env (SREC_NODE_*) when the node is Ready; on any failure it names the step, prints the
# log's tail, tears down what it started and exits non-zero (up.sh then goes on without the node).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd="${1:-}"

# --- what this machine must have ----------------------------------------------------------------------
node_missing() {
  local why=()
  [ "$(id -u)" = 0 ] || why+=("not root (namespaces, cgroups and containerd need root)")
  command -v containerd >/dev/null || why+=("containerd is not installed (Debian: containerd)")
  command -v runc >/dev/null || why+=("runc is not installed (Debian: runc)")
  command -v buildah >/dev/null || why+=("buildah is not installed (Debian: buildah)")
  command -v iptables >/dev/null || why+=("iptables is not installed (Debian: iptables)")
  command -v conntrack >/dev/null || why+=("conntrack is not installed (Debian: conntrack)")
  command -v unshare >/dev/null && command -v nsenter >/dev/null || why+=("unshare/nsenter are missing (util-linux)")
  command -v ip >/dev/null || why+=("ip is missing (Debian: iproute2)")
  local p
  for p in bridge host-local portmap loopback; do
    [ -x "$NODE_CNI_BIN/$p" ] || { why+=("CNI plugin $p is missing in $NODE_CNI_BIN (Debian: containernetworking-plugins)"); break; }
  done
  for p in kubelet kube-proxy coredns pause; do
    [ -x "$K8S_BIN/$p" ] || why+=("$K8S_BIN/$p is not built (bash e2e/cluster/build.sh)")
  done
  # cgroupfs driver: kubelet needs the v1 memory/cpu/cpuset/pids hierarchies, or a pure v2 mount.
  [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || why+=("no cgroup memory controller under /sys/fs/cgroup")
  grep -qw overlay /proc/filesystems || why+=("the kernel has no overlay filesystem (containerd's snapshotter)")
  if [ "${#why[@]}" -gt 0 ]; then printf '%s; ' "${why[@]}" | sed 's/; $//'; fi
}

# --- down: everything is found from the state dir's name, so a lost pidfile still gets cleaned up ----------
# Every process of the node lives in $NODE_CGROUP (the namespace holder, containerd and its shims, kubelet,
# kube-proxy, CoreDNS, every container): kill them all, which ends the namespaces and with them the veth
# pair, the pod network and every mount; then remove the cgroups (deepest first).
# The mounted cgroup hierarchies: one per v1 controller (and the v2 one beside them) here, one in all on a
# cgroup v2 machine.
cgroup_roots() { awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts; }
cgroup_dirs() { # every directory of the node's cgroup tree, deepest first, in every hierarchy
  local h
  while read -r h; do
    [ -d "$h/$NODE_CGROUP" ] && find "$h/$NODE_CGROUP" -depth -type d
  done < <(cgroup_roots) 2>/dev/null | sort -u -r
}
cgroup_pids() {
  local d
  while read -r d; do cat "$d/cgroup.procs" 2>/dev/null; done < <(cgroup_dirs) | sort -u
}
node_down() {
  local pid i pids
  # The Node object would otherwise stay Ready for the controller-manager's grace period, and a node
  # started again within it would seem Ready before its kubelet is.
  if [ -f "$STATE_DIR/kubeconfig" ] && component_pid kube-apiserver >/dev/null; then
    "$K8S_BIN/kubectl" --kubeconfig "$STATE_DIR/kubeconfig" --request-timeout=5s delete node "$NODE_NAME" \
      --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  # kubelet first, gently, so that it does not restart what is being killed.
  if pid="$(component_pid kubelet)"; then kill -TERM "$pid" 2>/dev/null || true; wait_gone "$pid" 30 || true; fi
  for ((i = 0; i < 50; i++)); do
    pids="$(cgroup_pids)"
    [ -z "$pids" ] && break
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  [ -z "$(cgroup_pids)" ] || log "real node: processes still in cgroup $NODE_CGROUP after SIGKILL: $(cgroup_pids | tr '\n' ' ')"
  local d
  for ((i = 0; i < 50; i++)); do
    while read -r d; do rmdir "$d" 2>/dev/null || true; done < <(cgroup_dirs)
    [ -z "$(cgroup_dirs)" ] && break
    sleep 0.1   # a cgroup stays busy for a moment after its last process is reaped
  done
  [ -z "$(cgroup_dirs)" ] || log "real node: could not remove cgroups: $(cgroup_dirs | tr '\n' ' ')"
  # The veth pair goes with the namespace; this only matters if the holder was never started.
  ip link show "$NODE_VETH" >/dev/null 2>&1 && ip link del "$NODE_VETH" 2>/dev/null || true
  rm -f "$PID_DIR"/{node-ns,containerd,kubelet,kube-proxy,coredns}.pid "$STATE_DIR/node.env" 2>/dev/null || true
  # Snapshots hold files of many owners and modes; nothing is mounted on them any more in this namespace.
  rm -rf "$NODE_DIR"
}

if [ "$cmd" = down ]; then node_down; exit 0; fi
if [ "$cmd" = check ]; then node_missing; echo; exit 0; fi
[ "$cmd" = up ] || { echo "usage: $0 up|down|check" >&2; exit 2; }

# --- up ---------------------------------------------------------------------------------------------
T0=$SECONDS
# shellcheck source=/dev/null
. "$STATE_DIR/ports.env"
[ -n "${NODE_IP:-}" ] || { echo "real node: up.sh planned no node addresses (ports.env has no NODE_IP)" >&2; exit 1; }
missing="$(node_missing)"
[ -z "$missing" ] || { echo "real node: this machine cannot run it: $missing" >&2; exit 3; }

STARTED=0
fail() { # $1=step $2=message [$3=log]
  echo >&2
  echo "real node FAILED at '$1': $2" >&2
  if [ -n "${3:-}" ] && [ -f "$3" ]; then
    echo "---- last 30 lines of $3 ----" >&2; tail -n 30 "$3" >&2; echo "---- end ----" >&2
  fi
  [ "${KEEP_FAILED_NODE:-0}" = 1 ] || node_down
  exit 1
}
trap 'rc=$?; if [ $rc != 0 ] && [ "$STARTED" = 1 ] && [ "${KEEP_FAILED_NODE:-0}" != 1 ]; then node_down; fi' EXIT

node_down   # a half-started node of this state dir from before goes first
mkdir -p "$NODE_DIR"/{var-lib/cni/networks,var-log,cni,sysctl,run,etc/upper,etc/work} "$PID_DIR" "$LOG_DIR"
STARTED=1

# The node's cgroup, in every hierarchy, with cpuset's cpus and mems filled in (cgroup v1 does not inherit
# them, and a cpuset without them takes no process).
while read -r h; do
  mkdir -p "$h/$NODE_CGROUP/node"
  if [ -f "$h/cpuset.cpus" ]; then
    for d in "$h/$NODE_CGROUP" "$h/$NODE_CGROUP/node"; do
      cat "$h/cpuset.cpus" >"$d/cpuset.cpus"; cat "$h/cpuset.mems" >"$d/cpuset.mems"
    done
  fi
done < <(cgroup_roots)
CGROUP_PROCS=()
while read -r h; do [ -f "$h/$NODE_CGROUP/node/cgroup.procs" ] && CGROUP_PROCS+=("$h/$NODE_CGROUP/node/cgroup.procs"); done < <(cgroup_roots)

# The kubelet sets vm.overcommit_memory, kernel.panic and kernel.panic_on_oops to its own liking at start
# (these are not per-namespace: it would change them for the whole machine), or refuses to start when
# told to protect them. Inside the node's mount namespace, files with the values it wants are bound over
# those it would change, so it finds nothing to do and the machine keeps its own.
SYSCTL_BINDS=""
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
  kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  k=${kv%=*} v=${kv#*=}
  [ -f "/proc/sys/$k" ] || continue
  [ "$(cat "/proc/sys/$k")" = "$v" ] && continue
  f="$NODE_DIR/sysctl/${k//\//.}"
  echo "$v" >"$f"
  SYSCTL_BINDS+="mount --bind -o ro '$f' '/proc/sys/$k'; "
done

kctl() { "$K8S_BIN/kubectl" --kubeconfig "$STATE_DIR/kubeconfig" "$@"; }

# start <name> <command...>: detached, in the node's cgroup and namespaces (after the holder), logged.
node_start() {
  local comp=$1; shift
  local pf="$PID_DIR/$comp.pid"
  # shellcheck disable=SC2016
  setsid bash -c 'pf=$1; shift; for f in $CGROUP_PROCS_LIST; do echo $$ >"$f"; done; echo $$ >"$pf"; exec "$@"' \
    _ "$pf" "$@" >"$LOG_DIR/$comp.log" 2>&1 </dev/null 8>&- 9>&- &
  disown   # down kills it with the node's cgroup; this shell need not report that
  local i
  for ((i = 0; i < 50; i++)); do [ -s "$pf" ] && break; sleep 0.02; done
  [ -s "$pf" ] || fail "$comp" "did not start" "$LOG_DIR/$comp.log"
}
export CGROUP_PROCS_LIST="${CGROUP_PROCS[*]}"
in_node() { nsenter -t "$HOLDER" -n -m -- "$@"; }
wait_node() { # <step> <timeout s> <what> <command...>
  local step=$1 timeout=$2 what=$3; shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ "$step" != - ]; then component_pid "$step" >/dev/null || fail "$step" "exited before it was $what" "$LOG_DIR/$step.log"; fi
    [ $SECONDS -lt $deadline ] || fail "$step" "not $what after ${timeout}s" "$LOG_DIR/$step.log"
    sleep 0.2
  done
}

# 1. The namespaces: a holder process that made them, mounted the node's own /run, /var/lib and /var/log
# (from the state dir: images, pod volumes, logs and CNI state land there, and vanish with it), /etc as a
# copy-on-write overlay of the host's, and sleeps.
log "real node: namespaces, veth $NODE_VETH ($NODE_HOST_IP <-> $NODE_IP)"
node_start node-ns unshare --net --mount --propagation private -- bash -c "
  set -e
  mount -t tmpfs -o mode=755,size=256m srec-node-run /run
  mount --bind '$NODE_DIR/var-lib' /var/lib
  mount --bind '$NODE_DIR/var-log' /var/log
  # /etc copy-on-write: what the node's programs write there (CNI's lock files, say) stays the node's.
  mount -t overlay srec-node-etc -o 'lowerdir=/etc,upperdir=$NODE_DIR/etc/upper,workdir=$NODE_DIR/etc/work' /etc
  $SYSCTL_BINDS
  ip link set lo up
  # Named after the state dir, so that component_pid knows it for this cluster's.
  exec -a 'srec-node-ns $STATE_DIR/' sleep infinity
"
HOLDER="$(cat "$PID_DIR/node-ns.pid")"
ns_ready() { [ "$(readlink "/proc/$HOLDER/ns/net")" != "$(readlink /proc/self/ns/net)" ] && grep -q "srec-node-run /run" "/proc/$HOLDER/mounts" && [ "$(cat "/proc/$HOLDER/comm")" = sleep ]; }
wait_node node-ns 10 "holding its namespaces" ns_ready

# 2. The wire to the host: only the control plane's address is reachable from the node (no default route),
# so pods talk to the API server and to nothing else beyond the node.
ip link add "$NODE_VETH" type veth peer name eth0 netns "$HOLDER" || fail veth "could not create veth $NODE_VETH" /dev/null
ip addr add "$NODE_HOST_IP/30" dev "$NODE_VETH"
ip link set "$NODE_VETH" up
in_node ip addr add "$NODE_IP/30" dev eth0
in_node ip link set eth0 up
# Service IPs are DNATed by kube-proxy; a connection the node itself opens needs a route before that.
in_node ip route add 10.96.0.0/16 via "$NODE_HOST_IP"
# Per network namespace: pods are routed through the node, and bridged pod traffic passes iptables
# (kube-proxy's DNAT for a pod calling a Service backed by a pod on the same bridge).
in_node sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward; [ ! -f /proc/sys/net/bridge/bridge-nf-call-iptables ] || echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables'

# 3. containerd.
cat >"$NODE_DIR/resolv.conf" <<EOF
nameserver $NODE_IP
EOF
cat >"$NODE_DIR/cni/10-srec.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "srec-node",
  "plugins": [
    { "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$NODE_POD_CIDR" }]], "routes": [{ "dst": "0.0.0.0/0" }],
                "dataDir": "/var/lib/cni/networks" } },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
cat >"$NODE_DIR/containerd.toml" <<EOF
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
# Not /run/containerd/containerd.sock: the host side (image:build's import, tests) reaches it here.
[grpc]
  address = "$NODE_SOCK"
[debug]
  level = "warn"
# Its default is /opt/containerd, on the host; under the node's own /var/lib instead.
[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  # Built locally by this script: no registry is reachable to pull pause from.
  sandbox_image = "$NODE_PAUSE_IMAGE"
  enable_selinux = false
  # Pods get no less of an OOM score than containerd itself has: a kubelet asking for -997 for a
  # Guaranteed pod would otherwise fail wherever this runs under a process with a raised oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$NODE_CNI_BIN"
    conf_dir = "$NODE_DIR/cni"
EOF
log "real node: starting containerd"
node_start containerd nsenter -t "$HOLDER" -n -m -- containerd --config "$NODE_DIR/containerd.toml"
ctr_ok() { ctr -a "$NODE_SOCK" version; }
wait_node containerd 30 serving ctr_ok

# 4. The images the node itself runs: pause (every pod's sandbox), built from scratch with the binary
# build.sh made, then imported into containerd's k8s.io namespace.
import_image() { # <name> <binary> <entrypoint json>
  local img=$1 bin=$2 ep=$3 c tar="$NODE_DIR/$(basename "$2").tar" sum
  sum="$(sha256sum "$bin" | cut -c1-64)"
  # Built once per binary (the label says which) and kept in buildah's store between runs.
  if [ "$(node_buildah inspect --type image --format '{{index .ImageAnnotations "srec.binary-sha256"}}' "$img" 2>/dev/null)" != "$sum" ]; then
    c="$(node_buildah from scratch)"
    node_buildah copy "$c" "$bin" "/$(basename "$bin")" >/dev/null
    node_buildah config --entrypoint "$ep" --user 65535:65535 --annotation "srec.binary-sha256=$sum" "$c"
    node_buildah commit --quiet --rm "$c" "$img" >/dev/null
    node_buildah rmi --prune >/dev/null 2>&1 || true
  fi
  rm -f "$tar"
  node_buildah push --quiet "$img" "docker-archive:$tar:$img"
  ctr -a "$NODE_SOCK" -n k8s.io images import "$tar" >/dev/null
  rm -f "$tar"
}
log "real node: importing $NODE_PAUSE_IMAGE"
import_image "$NODE_PAUSE_IMAGE" "$K8S_BIN/pause" '["/pause"]' >"$LOG_DIR/images.log" 2>&1 \
  || fail images "could not build and import the pause image" "$LOG_DIR/images.log"

# 5. kubelet and kube-proxy, with the certificates up.sh signed for them.
cat >"$NODE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine mounts cgroup v1 (hybrid); the kubelet refuses v1 unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
# Under the node's own cgroup: down.sh finds every container there.
cgroupRoot: /$NODE_CGROUP
containerRuntimeEndpoint: unix://$NODE_SOCK
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI_DIR/kubelet-serving.crt
tlsPrivateKeyFile: $PKI_DIR/kubelet-serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $PKI_DIR/ca.crt }
authorization: { mode: Webhook }
clusterDomain: cluster.local
clusterDNS: [$NODE_IP]
resolvConf: $NODE_DIR/resolv.conf
failSwapOn: false
maxPods: 40
# The images here were built or imported locally and cannot be pulled again: never collect them, and
# leave disk pressure to the machine (it is shared with the rest of the work).
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
serializeImagePulls: false
shutdownGracePeriod: 0s
EOF
write_kubeconfig "$NODE_DIR/kubelet.kubeconfig" kubelet "https://$NODE_HOST_IP:$API_PORT" "$K8S_BIN/kubectl"
write_kubeconfig "$NODE_DIR/kube-proxy.kubeconfig" kube-proxy "https://$NODE_HOST_IP:$API_PORT" "$K8S_BIN/kubectl"
write_kubeconfig "$NODE_DIR/coredns.kubeconfig" coredns "https://$NODE_HOST_IP:$API_PORT" "$K8S_BIN/kubectl"

log "real node: starting kubelet as node $NODE_NAME"
node_start kubelet nsenter -t "$HOLDER" -n -m -- "$K8S_BIN/kubelet" \
  --config "$NODE_DIR/kubelet.yaml" --kubeconfig "$NODE_DIR/kubelet.kubeconfig" \
  --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
  --node-labels "type=real" --register-with-taints "$NODE_TAINT" --v=1

cat >"$NODE_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: { kubeconfig: $NODE_DIR/kube-proxy.kubeconfig }
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: $NODE_POD_CIDR
nodePortAddresses: [$NODE_IP/32]
# Leave the conntrack table's size and timeouts alone: they are the machine's, not the namespace's.
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
iptables: { masqueradeAll: true }
EOF
log "real node: starting kube-proxy"
node_start kube-proxy nsenter -t "$HOLDER" -n -m -- "$K8S_BIN/kube-proxy" --config "$NODE_DIR/kube-proxy.yaml" --v=1

# 6. Cluster DNS: CoreDNS on the node's own address (the pods' resolv.conf names it), as a process of the
# node rather than a pod, so that the node needs no image beyond pause to come up.
cat >"$NODE_DIR/Corefile" <<EOF
.:53 {
  bind $NODE_IP
  errors
  health 127.0.0.1:8081
  ready 127.0.0.1:8181
  kubernetes cluster.local in-addr.arpa ip6.arpa {
    kubeconfig $NODE_DIR/coredns.kubeconfig
    pods insecure
    fallthrough in-addr.arpa ip6.arpa
  }
  cache 10
  loadbalance
}
EOF
# What CoreDNS's kubernetes plugin reads, as the user its certificate names (CoreDNS's own ClusterRole).
kctl apply -f - >"$LOG_DIR/coredns-rbac.log" 2>&1 <<'EOF' || fail coredns "could not apply CoreDNS's RBAC" "$LOG_DIR/coredns-rbac.log"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: "srec:coredns" }
rules:
- { apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch] }
- { apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "srec:coredns" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "srec:coredns" }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: "srec:coredns" }]
EOF
log "real node: starting CoreDNS on $NODE_IP:53"
node_start coredns nsenter -t "$HOLDER" -n -m -- "$K8S_BIN/coredns" -conf "$NODE_DIR/Corefile"

node_ready() { [ "$(kctl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
proxy_healthy() { in_node curl -sf --max-time 2 http://127.0.0.1:10256/healthz; }
dns_ready() { in_node curl -sf --max-time 2 http://127.0.0.1:8181/ready; }
wait_node kubelet 90 "registered and Ready" node_ready
wait_node kube-proxy 60 healthy proxy_healthy
wait_node coredns 60 ready dns_ready

cat >"$STATE_DIR/node.env" <<EOF
SREC_NODE_NAME=$NODE_NAME
SREC_NODE_IP=$NODE_IP
SREC_NODE_HOST_IP=$NODE_HOST_IP
SREC_NODE_TAINT=$NODE_TAINT
SREC_NODE_POD_CIDR=$NODE_POD_CIDR
SREC_NODE_CONTAINERD_SOCK=$NODE_SOCK
SREC_NODE_NETNS=/proc/$HOLDER/ns/net
SREC_NODE_HOLDER_PID=$HOLDER
EOF
STARTED=0
log "real node $NODE_NAME Ready in $((SECONDS - T0))s ($NODE_IP; taint $NODE_TAINT)"
