#!/usr/bin/env bash
# Start a real, local Kubernetes control plane for tests and the quickstart:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake
# nodes whose pods become Running/Ready), all on 127.0.0.1 on free ports.
#
#   bash e2e/cluster/up.sh      (npm run cluster:up)
#
# Writes the admin kubeconfig to .cluster/kubeconfig. State (pids, logs, certs,
# etcd data) lives in .cluster/ (override: SREC_CLUSTER_STATE=/abs/dir).
# Idempotent: when this state dir's cluster is already up and ready, it is reused.
# Ports are picked free at random; SREC_CLUSTER_API_PORT pins the API server's.
# SREC_CLUSTER_NODES sets the number of kwok nodes (default 2).
# Beside them one real node (node.sh: containerd, kubelet, kube-proxy, CoreDNS in namespaces of their
# own) where this machine can run it; SREC_REAL_NODE=0 leaves it out. A node that cannot come up does
# not fail cluster:up: cluster.env then says SREC_REAL_NODE=0 and why (SREC_REAL_NODE_REASON).
# On failure it names the component, prints the tail of its log and stops
# everything it started.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

T0=$SECONDS
KUBECONFIG_OUT="$STATE_DIR/kubeconfig"
NODE_COUNT="${SREC_CLUSTER_NODES:-2}"
READY_TIMEOUT="${SREC_CLUSTER_READY_TIMEOUT:-90}"

STARTED=0   # set to 1 once we start launching processes: failures then clean up
fail() { # $1=component $2=message [$3=log file]
  local comp=$1 msg=$2 lf=${3:-$LOG_DIR/$1.log}
  echo >&2
  echo "cluster:up FAILED: component '$comp': $msg" >&2
  if [ -f "$lf" ]; then
    echo "---- last 40 lines of $lf ----" >&2
    tail -n 40 "$lf" >&2
    echo "---- end of $comp log ----" >&2
  fi
  if [ "$STARTED" = 1 ]; then
    log "stopping every component this run started"
    stop_all
  fi
  exit 1
}
trap 'rc=$?; if [ $rc != 0 ] && [ "$STARTED" = 1 ]; then stop_all; fi' EXIT
trap 'echo "cluster:up interrupted" >&2; exit 130' INT TERM

need() { command -v "$1" >/dev/null || fail toolchain "'$1' is not installed (needed: $2)" /dev/null; }
need openssl "certificates"
need curl "health checks"
need setsid "daemonizing (util-linux)"

need flock "locking (util-linux)"
lock_state

kctl() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" "$@"; }

# ---------------------------------------------------------------- reuse ------
all_running() {
  local c
  for c in "${STOP_ORDER[@]}"; do component_pid "$c" >/dev/null || return 1; done
}
if [ -f "$KUBECONFIG_OUT" ] && all_running && binaries_ready \
  && [ "$(kctl get --raw /readyz --request-timeout=5s 2>/dev/null)" = ok ]; then
  log "cluster already running (state $STATE_DIR); reusing it"
  echo "kubeconfig: $KUBECONFIG_OUT"
  echo "cluster-status: reused"
  exit 0
fi
# Anything half-alive from an earlier run of this state dir goes first.
stop_all
remove_state

# ---------------------------------------------------------------- build ------
if ! binaries_ready; then
  log "cluster binaries not built yet for these pins; running build.sh (a cold build takes a while)"
  bash "$CLUSTER_DIR/build.sh" || fail build "build.sh failed (see its output above; build logs in $K8S_CACHE/build-*.log)" /dev/null
fi
B="$K8S_BIN"

mkdir -p "$PID_DIR" "$LOG_DIR" "$PKI_DIR" "$STATE_DIR/kubeconfigs"
mkdir -m 700 "$STATE_DIR/etcd"
chmod 700 "$STATE_DIR"

# ---------------------------------------------------------------- ports ------
# Free ports below the ephemeral range, not listening now, distinct.
declare -A TAKEN=()
while read -r hex; do TAKEN[$((16#$hex))]=1; done < <(
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4=="0A" {n=split($2,a,":"); print a[n]}')
pick_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    [ -z "${TAKEN[$p]:-}" ] && { TAKEN[$p]=1; echo "$p"; return; }
  done
}
ETCD_PORT=$(pick_port); ETCD_PEER_PORT=$(pick_port); API_PORT=${SREC_CLUSTER_API_PORT:-$(pick_port)}
KCM_PORT=$(pick_port); SCHED_PORT=$(pick_port); KWOK_PORT=$(pick_port)
cat >"$STATE_DIR/ports.env" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
API_PORT=$API_PORT
KCM_PORT=$KCM_PORT
SCHED_PORT=$SCHED_PORT
KWOK_PORT=$KWOK_PORT
EOF
API_URL="https://127.0.0.1:$API_PORT"

# The real node's addresses, planned now: the API server's certificate and flags name them.
NODE_WANTED=0 NODE_REASON=""
if [ "${SREC_REAL_NODE:-1}" = 0 ]; then
  NODE_REASON="SREC_REAL_NODE=0"
else
  NODE_REASON="$(bash "$CLUSTER_DIR/node.sh" check)"
  if [ -z "$NODE_REASON" ]; then
    if node_plan >>"$STATE_DIR/ports.env"; then NODE_WANTED=1; else NODE_REASON="no free 10.250.<n>.0/30 for the node's veth"; fi
  fi
fi
NODE_HOST_IP=""; NODE_IP=""
# shellcheck source=/dev/null
. "$STATE_DIR/ports.env"

# ---------------------------------------------------------------- pki --------
log "generating certificates in $PKI_DIR"
(
  set -e
  cd "$PKI_DIR"
  exec 2>"$LOG_DIR/pki.log"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=srec-local-ca" >/dev/null
  # $1=name $2=subject $3=extensions
  sign() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" >/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 -extfile "$1.ext" >/dev/null
    rm -f "$1.csr" "$1.ext"
  }
  sign apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1${NODE_HOST_IP:+,IP:$NODE_HOST_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  client_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  sign admin "/O=system:masters/CN=srec-admin" "$client_ext"
  sign controller-manager "/CN=system:kube-controller-manager" "$client_ext"
  sign scheduler "/CN=system:kube-scheduler" "$client_ext"
  # kwok updates node/pod status, leases and more: it gets cluster-admin.
  sign kwok "/O=system:masters/CN=kwok-controller" "$client_ext"
  # The API server's client certificate towards kubelets (logs, exec, port-forward).
  sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client_ext"
  if [ -n "$NODE_IP" ]; then
    # The real node's identities: the Node authorizer knows a kubelet by system:node:<name> in
    # system:nodes; kube-proxy's user has the system:node-proxier binding built in.
    sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "$client_ext"
    sign kube-proxy "/CN=system:kube-proxy" "$client_ext"
    sign coredns "/CN=srec:coredns" "$client_ext"
    sign kubelet-serving "/CN=$NODE_NAME" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$NODE_IP,DNS:$NODE_NAME"
  fi
  # front-proxy (request-header) CA and client: aggregated APIs, and the
  # controller-manager/scheduler's delegated authentication find a complete
  # extension-apiserver-authentication ConfigMap.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout front-proxy-ca.key -out front-proxy-ca.crt -days 3650 -subj "/CN=srec-front-proxy-ca" >/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout front-proxy-client.key -out front-proxy-client.csr -subj "/CN=front-proxy-client" >/dev/null
  printf '%s\n' "$client_ext" >front-proxy-client.ext
  openssl x509 -req -in front-proxy-client.csr -CA front-proxy-ca.crt -CAkey front-proxy-ca.key -CAcreateserial \
    -out front-proxy-client.crt -days 3650 -extfile front-proxy-client.ext >/dev/null
  rm -f front-proxy-client.csr front-proxy-client.ext
  # service-account token signing key pair
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out sa.key
  openssl pkey -in sa.key -pubout -out sa.pub
  chmod 600 ./*.key
) || fail pki "openssl failed" "$LOG_DIR/pki.log"

write_kubeconfig "$KUBECONFIG_OUT" admin "$API_URL" "$B/kubectl"
for c in controller-manager scheduler kwok; do write_kubeconfig "$STATE_DIR/kubeconfigs/$c.kubeconfig" "$c" "$API_URL" "$B/kubectl"; done

# ---------------------------------------------------------------- start ------
start() { # $1=component, rest=command; detached in its own session, output to its log
  local comp=$1; shift
  local pf="$PID_DIR/$comp.pid"
  STARTED=1
  # fd 8 is the state lock: the daemons must not inherit (and so hold) it.
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pf" "$@" >"$LOG_DIR/$comp.log" 2>&1 </dev/null 8>&- &
  local i
  for ((i = 0; i < 50; i++)); do [ -s "$pf" ] && break; sleep 0.02; done
  [ -s "$pf" ] || fail "$comp" "did not start"
}

# wait_for <component> <timeout-seconds> <description> <command...>; fails fast if the process dies
wait_for() {
  local comp=$1 timeout=$2 what=$3; shift 3
  local deadline=$((SECONDS + timeout))
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    component_pid "$comp" >/dev/null || fail "$comp" "process exited before it was $what"
    [ $SECONDS -lt $deadline ] || fail "$comp" "not $what after ${timeout}s"
    sleep 0.2
  done
}
curl_ok() { [ "$(curl -s --max-time 2 "$@")" = ok ]; }
admin_curl() { curl_ok --cacert "$PKI_DIR/ca.crt" --cert "$PKI_DIR/admin.crt" --key "$PKI_DIR/admin.key" "$@"; }
etcd_healthy() { curl -s --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }

log "starting etcd on 127.0.0.1:$ETCD_PORT"
start etcd "$B/etcd" --name srec --data-dir "$STATE_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "srec=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
  --unsafe-no-fsync --quota-backend-bytes 2147483648 --log-level warn
wait_for etcd 20 healthy etcd_healthy

# With the real node, the API server also listens where the node reaches it (its veth's host end) and
# advertises that address, so that the kubernetes Service leads pods to it; kwok alone needs neither.
if [ "$NODE_WANTED" = 1 ]; then
  API_NET_ARGS=(--bind-address 0.0.0.0 --advertise-address "$NODE_HOST_IP" --endpoint-reconciler-type lease)
else
  API_NET_ARGS=(--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --endpoint-reconciler-type none)
fi
log "starting kube-apiserver on $API_URL"
start kube-apiserver "$B/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  "${API_NET_ARGS[@]}" --secure-port "$API_PORT" \
  --tls-cert-file "$PKI_DIR/apiserver.crt" --tls-private-key-file "$PKI_DIR/apiserver.key" \
  --client-ca-file "$PKI_DIR/ca.crt" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI_DIR/sa.pub" --service-account-signing-key-file "$PKI_DIR/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 \
  --authorization-mode Node,RBAC \
  --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,ResourceQuota,PodSecurity,NodeRestriction,PodNodeSelector,PodTolerationRestriction \
  --kubelet-client-certificate "$PKI_DIR/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI_DIR/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types InternalIP \
  --requestheader-client-ca-file "$PKI_DIR/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$PKI_DIR/front-proxy-client.crt" --proxy-client-key-file "$PKI_DIR/front-proxy-client.key" \
  --allow-privileged=true --profiling=false \
  --cert-dir "$PKI_DIR/apiserver-generated"
wait_for kube-apiserver "$READY_TIMEOUT" ready admin_curl "$API_URL/readyz"

# SREC_CLUSTER_API_QPS raises the controller-manager's client rate limit (default 20 per controller):
# the operator benchmark's 2000 Deployments otherwise take many minutes to get their pods.
KCM_QPS_ARGS=""
if [ -n "${SREC_CLUSTER_API_QPS:-}" ]; then
  KCM_QPS_ARGS="--kube-api-qps $SREC_CLUSTER_API_QPS --kube-api-burst $((SREC_CLUSTER_API_QPS * 2))"
fi
log "starting kube-controller-manager, kube-scheduler and kwok"
start kube-controller-manager "$B/kube-controller-manager" \
  --kubeconfig "$STATE_DIR/kubeconfigs/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$STATE_DIR/kubeconfigs/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$STATE_DIR/kubeconfigs/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
  --cert-dir "$PKI_DIR/kcm-generated" \
  --controllers '*' --use-service-account-credentials=true \
  --service-account-private-key-file "$PKI_DIR/sa.key" --root-ca-file "$PKI_DIR/ca.crt" \
  --cluster-signing-cert-file "$PKI_DIR/ca.crt" --cluster-signing-key-file "$PKI_DIR/ca.key" \
  --service-cluster-ip-range 10.96.0.0/16 --allocate-node-cidrs=false \
  --leader-elect=false --profiling=false $KCM_QPS_ARGS
start kube-scheduler "$B/kube-scheduler" \
  --kubeconfig "$STATE_DIR/kubeconfigs/scheduler.kubeconfig" \
  --authentication-kubeconfig "$STATE_DIR/kubeconfigs/scheduler.kubeconfig" \
  --authorization-kubeconfig "$STATE_DIR/kubeconfigs/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" \
  --cert-dir "$PKI_DIR/scheduler-generated" \
  --leader-elect=false --profiling=false
start kwok "$B/kwok" \
  --kubeconfig "$STATE_DIR/kubeconfigs/kwok.kubeconfig" \
  --config "$CLUSTER_DIR/kwok-stages.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds 40 \
  --server-address "127.0.0.1:$KWOK_PORT"

# Let unauthenticated callers ask what THEY may do (SelfSubjectAccessReview/RulesReview,
# nothing else), so `kubectl auth can-i ... --as=system:anonymous` answers "no" instead
# of failing with "cannot create selfsubjectaccessreviews". Everything else stays denied.
kctl apply -f - >"$LOG_DIR/rbac.log" 2>&1 <<'EOF' || fail rbac "could not apply the anonymous self-review RBAC" "$LOG_DIR/rbac.log"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: srec:anonymous-self-review
rules:
- apiGroups: [authorization.k8s.io]
  resources: [selfsubjectaccessreviews, selfsubjectrulesreviews]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: srec:anonymous-self-review
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: srec:anonymous-self-review}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: system:anonymous}
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:unauthenticated}
EOF

# Fake nodes, managed by kwok (annotation), schedulable and untainted.
nodes_yaml() {
  local i
  for ((i = 0; i < NODE_COUNT; i++)); do cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node-role.kubernetes.io/agent: ""
spec: {}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 100Gi}
  capacity: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 100Gi}
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    kubeletVersion: fake
    kubeProxyVersion: fake
EOF
  done
}
nodes_yaml | kctl apply -f - >"$LOG_DIR/nodes.log" 2>&1 || fail nodes "could not create the fake nodes" "$LOG_DIR/nodes.log"

kcm_healthy() { curl_ok -k "https://127.0.0.1:$KCM_PORT/healthz"; }
sched_healthy() { curl_ok -k "https://127.0.0.1:$SCHED_PORT/healthz"; }
kwok_healthy() { curl_ok "http://127.0.0.1:$KWOK_PORT/healthz"; }
nodes_ready() {
  local n
  n="$(kctl get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$')"
  [ "$n" -ge "$NODE_COUNT" ]
}
wait_for kube-controller-manager 60 healthy kcm_healthy
wait_for kube-scheduler 60 healthy sched_healthy
wait_for kwok 60 healthy kwok_healthy
wait_for kwok 60 "marking the fake nodes Ready" nodes_ready

# Machine-readable facts for scripts and the jest helpers (e2e/support/cluster.ts).
cat >"$STATE_DIR/cluster.env" <<EOF
SREC_KUBECONFIG=$KUBECONFIG_OUT
SREC_API_URL=$API_URL
SREC_K8S_VERSION=$K8S_VERSION
SREC_KUBECTL=$B/kubectl
SREC_HELM=$B/helm
SREC_CLUSTER_BIN=$B
EOF

# ---------------------------------------------------------------- real node --
if [ "$NODE_WANTED" = 1 ]; then
  log "starting the real node (containerd, kubelet, kube-proxy, CoreDNS)"
  if bash "$CLUSTER_DIR/node.sh" up 8>&-; then
    { echo "SREC_REAL_NODE=1"; cat "$STATE_DIR/node.env"; } >>"$STATE_DIR/cluster.env"
  else
    NODE_REASON="node.sh up failed: its output above names the step, logs in $LOG_DIR"
  fi
fi
if ! grep -q '^SREC_REAL_NODE=1' "$STATE_DIR/cluster.env"; then
  log "real node: not started: $NODE_REASON; pods run on kwok nodes only"
  { echo "SREC_REAL_NODE=0"; echo "SREC_REAL_NODE_REASON=$NODE_REASON"; } >>"$STATE_DIR/cluster.env"
fi

STARTED=0
REAL_NODES=0; grep -q '^SREC_REAL_NODE=1' "$STATE_DIR/cluster.env" && REAL_NODES=1
log "cluster ready in $((SECONDS - T0))s: $API_URL (kubernetes $K8S_VERSION, $NODE_COUNT kwok nodes, $REAL_NODES real node, state $STATE_DIR)"
echo "kubeconfig: $KUBECONFIG_OUT"
echo "  kubectl:  $B/kubectl --kubeconfig $KUBECONFIG_OUT get nodes"
echo "  stop:     npm run cluster:down"
echo "cluster-status: started"
