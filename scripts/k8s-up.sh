#!/usr/bin/env bash
# Starts a real local Kubernetes control plane on 127.0.0.1 for the kubernetes driver: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler and KWOK (fake nodes whose pods become
# Running), with certificates made here by openssl. Binaries come from scripts/k8s-build.sh (built
# once, cached on the machine). Writes the admin kubeconfig to $CIRRUS_K8S_DIR/kubeconfig.
#
#   scripts/k8s-up.sh [--nodes N] [--gpu-nodes M]    (npm run k8s:up)
#   scripts/k8s-down.sh                              (npm run k8s:down)
#
# Environment: CIRRUS_K8S_DIR (default <repo>/.k8s), CIRRUS_K8S_NODES (4), CIRRUS_K8S_GPU_NODES (1),
# CIRRUS_K8S_NODE_CPU (16), CIRRUS_K8S_NODE_MEMORY (64Gi), CIRRUS_K8S_NODE_GPUS (8), and those of
# k8s-build.sh; CIRRUS_K8S_BIN: a folder with all five binaries (then no build). Ports are free high
# ports picked at start (none fixed). Running it again while the control plane answers only
# (re)applies the nodes. CIRRUS_K8S_PARENT_PID: stop the control plane
# (k8s-down) when that process is gone (tests set it, so a killed test leaves nothing running).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
DIR="${CIRRUS_K8S_DIR:-$repo/.k8s}"
NODES="${CIRRUS_K8S_NODES:-4}"
GPU_NODES="${CIRRUS_K8S_GPU_NODES:-1}"
NODE_CPU="${CIRRUS_K8S_NODE_CPU:-16}"
NODE_MEMORY="${CIRRUS_K8S_NODE_MEMORY:-64Gi}"
NODE_GPUS="${CIRRUS_K8S_NODE_GPUS:-8}"
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES="$2"; shift 2 ;;
    --gpu-nodes) GPU_NODES="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "k8s-up: unknown argument $1" >&2; exit 2 ;;
  esac
done
KUBECTL="${KUBECTL:-kubectl}"
command -v "$KUBECTL" >/dev/null || { echo "k8s-up: kubectl not found (Debian: apt-get install kubernetes-client)" >&2; exit 2; }
command -v openssl >/dev/null || { echo "k8s-up: openssl not found" >&2; exit 2; }

t0=$(date +%s.%N)
BIN="${CIRRUS_K8S_BIN:-$("$here/k8s-build.sh")}"
mkdir -p "$DIR/pki" "$DIR/logs" "$DIR/pids"
KC="$DIR/kubeconfig"

elapsed() { printf '%.1f' "$(echo "$(date +%s.%N) - $1" | bc)"; }

apply_nodes() {
  local f="$DIR/nodes.yaml"
  : >"$f"
  for i in $(seq 0 $((NODES - 1))); do
    local gpu=""
    local labels=""
    if [ "$i" -lt "$GPU_NODES" ]; then
      gpu="    nvidia.com/gpu: \"$NODE_GPUS\""
      labels=$'\n    cirrus.network/gpu.vendor: nvidia\n    cirrus.network/gpu.model: a100\n    cirrus.network/gpu.ram: 80Gi\n    cirrus.network/gpu.interface: sxm'
    fi
    cat >>"$f" <<YAML
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
    node-role.kubernetes.io/agent: ""$labels
spec: {}
status:
  allocatable:
    cpu: "$NODE_CPU"
    memory: $NODE_MEMORY
    ephemeral-storage: 1Ti
    pods: "250"
$( [ -n "$gpu" ] && echo "$gpu" )
  capacity:
    cpu: "$NODE_CPU"
    memory: $NODE_MEMORY
    ephemeral-storage: 1Ti
    pods: "250"
$( [ -n "$gpu" ] && echo "$gpu" )
YAML
  done
  # a Node's status (capacity, allocatable) is kept on create; KWOK then marks it Ready
  "$KUBECTL" --kubeconfig "$KC" apply --server-side -f "$f" >/dev/null
  # wait (bounded) for KWOK to report them Ready
  "$KUBECTL" --kubeconfig "$KC" wait --for=condition=Ready node -l type=kwok --timeout=60s >/dev/null
}

ready() { [ -f "$KC" ] && "$KUBECTL" --kubeconfig "$KC" get --raw /readyz >/dev/null 2>&1; }

if ready; then
  apply_nodes
  echo "k8s-up: already running ($KC), $NODES nodes applied in $(elapsed "$t0") s"
  exit 0
fi
"$here/k8s-down.sh" --keep-pki >/dev/null 2>&1 || true
mkdir -p "$DIR/pki" "$DIR/logs" "$DIR/pids"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
ETCD_PORT=$(free_port); ETCD_PEER=$(free_port); API_PORT=$(free_port); KWOK_PORT=$(free_port)

# ---- certificates (EC P-256; made once per $DIR, kept by k8s-down --keep-pki) ----
P="$DIR/pki"
if [ ! -f "$P/ca.crt" ]; then
  (
    cd "$P"
    key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null; }
    key ca
    openssl req -x509 -new -key ca.key -days 3650 -subj "/CN=cirrus-local-ca" -out ca.crt 2>/dev/null
    cert() { # name subject [san]
      key "$1"
      openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
      if [ -n "${3:-}" ]; then printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$1.ext"
      else printf 'extendedKeyUsage=clientAuth\n' >"$1.ext"; fi
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    cert apiserver "/CN=kube-apiserver" "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:198.19.0.1"
    cert admin "/O=system:masters/CN=cirrus-admin"
    cert controller-manager "/CN=system:kube-controller-manager"
    cert scheduler "/CN=system:kube-scheduler"
    cert kwok "/O=system:masters/CN=kwok"
    key sa
    openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
  )
fi

kubeconfig() { # file user
  cat >"$1" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: cirrus-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $P/ca.crt
users:
- name: $2
  user:
    client-certificate: $P/$2.crt
    client-key: $P/$2.key
contexts:
- name: cirrus-local
  context: {cluster: cirrus-local, user: $2}
current-context: cirrus-local
YAML
}
kubeconfig "$DIR/admin.kubeconfig" admin
kubeconfig "$DIR/controller-manager.kubeconfig" controller-manager
kubeconfig "$DIR/scheduler.kubeconfig" scheduler
kubeconfig "$DIR/kwok.kubeconfig" kwok

# from here on a failure stops what was started
started=false
cleanup_on_failure() {
  local rc=$?
  if [ "$rc" -ne 0 ] && $started; then
    echo "k8s-up: failed (exit $rc); stopping what was started" >&2
    for f in "$DIR"/logs/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -3 "$f" >&2; }; done
    "$here/k8s-down.sh" --keep-pki >/dev/null 2>&1 || true
  fi
}
trap cleanup_on_failure EXIT

start() { # name args...
  started=true
  local name="$1"; shift
  setsid "$@" >"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/pids/$name.pid"
}
wait_for() { # what seconds command...
  local what="$1" secs="$2"; shift 2
  local end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$end" ]; then
      echo "k8s-up: $what not ready after ${secs}s; last log lines:" >&2
      tail -5 "$DIR/logs/$what.log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

start etcd "$BIN/etcd" --name cirrus --data-dir "$DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-cluster "cirrus=http://127.0.0.1:$ETCD_PEER" --unsafe-no-fsync --log-level warn \
  --quota-backend-bytes 4294967296
wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

# audit: the requests of the provider's ServiceAccount (examples/k8s-provider-rbac.yaml) only, one
# JSON line each in logs/audit.log (the scale benchmark counts them)
cat >"$DIR/audit-policy.yaml" <<'YAML'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: ["system:serviceaccount:cirrus-system:cirrus-provider"]
  - level: None
YAML
start kube-apiserver "$BIN/kube-apiserver" \
  --audit-policy-file "$DIR/audit-policy.yaml" --audit-log-path "$DIR/logs/audit.log" \
  --audit-log-mode batch --audit-log-batch-max-wait 1s \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
  --tls-cert-file "$P/apiserver.crt" --tls-private-key-file "$P/apiserver.key" --client-ca-file "$P/ca.crt" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$P/sa.pub" --service-account-signing-key-file "$P/sa.key" \
  --service-cluster-ip-range 198.19.0.0/16 --service-node-port-range 30000-32767 \
  --authorization-mode Node,RBAC --allow-privileged=false --profiling=false \
  --max-requests-inflight 800 --max-mutating-requests-inflight 400 --v 0
wait_for kube-apiserver 90 "$KUBECTL" --kubeconfig "$DIR/admin.kubeconfig" get --raw /readyz

start kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig "$DIR/controller-manager.kubeconfig" --leader-elect=false --secure-port 0 \
  --service-account-private-key-file "$P/sa.key" --root-ca-file "$P/ca.crt" \
  --use-service-account-credentials=true --controllers '*,-node-ipam-controller,-cloud-node-lifecycle-controller,-service-lb-controller,-node-route-controller' \
  --kube-api-qps 200 --kube-api-burst 400 --concurrent-deployment-syncs 20 --concurrent-replicaset-syncs 20 \
  --concurrent-namespace-syncs 20 --v 0
start kube-scheduler "$BIN/kube-scheduler" \
  --kubeconfig "$DIR/scheduler.kubeconfig" --leader-elect=false --secure-port 0 --v 0
start kwok "$BIN/kwok" --kubeconfig "$DIR/kwok.kubeconfig" --config "$BIN/kwok-stages.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --node-ip 127.0.0.1 --node-port 0 --server-address "127.0.0.1:$KWOK_PORT" --cidr 198.18.128.0/17

if [ -n "${CIRRUS_K8S_PARENT_PID:-}" ]; then
  (
    while kill -0 "$CIRRUS_K8S_PARENT_PID" 2>/dev/null && [ -d "$DIR/pids" ]; do sleep 2; done
    [ -d "$DIR/pids" ] && CIRRUS_K8S_DIR="$DIR" "$here/k8s-down.sh" >/dev/null 2>&1
  ) </dev/null >/dev/null 2>&1 &
  disown
fi
cp "$DIR/admin.kubeconfig" "$KC"
cat >"$DIR/env" <<ENV
ETCD_PORT=$ETCD_PORT
API_PORT=$API_PORT
KWOK_PORT=$KWOK_PORT
BIN=$BIN
ENV
# the default ServiceAccount (made by the controller-manager) is what pods need first
wait_for kube-controller-manager 60 "$KUBECTL" --kubeconfig "$KC" -n default get serviceaccount default
apply_nodes
echo "k8s-up: control plane on https://127.0.0.1:$API_PORT with $NODES nodes ($GPU_NODES with gpus) in $(elapsed "$t0") s; kubeconfig $KC"
