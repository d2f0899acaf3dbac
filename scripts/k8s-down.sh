#!/usr/bin/env bash
# Stops the control plane that scripts/k8s-up.sh started (only the processes whose ids it recorded)
# and removes its state (etcd data, logs, kubeconfigs). --keep-pki keeps the certificates.
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,3s/^# \{0,1\}//p' "$0"; echo "Usage: scripts/k8s-down.sh [--keep-pki]"; exit 0;; esac
here="$(cd "$(dirname "$0")" && pwd)"
DIR="${CIRRUS_K8S_DIR:-$(cd "$here/.." && pwd)/.k8s}"
keep_pki=false
[ "${1:-}" = "--keep-pki" ] && keep_pki=true
[ -d "$DIR" ] || { echo "k8s-down: nothing at $DIR"; exit 0; }
for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  f="$DIR/pids/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
done
rm -rf "$DIR/etcd" "$DIR/logs" "$DIR/pids" "$DIR"/*.kubeconfig "$DIR/kubeconfig" "$DIR/env" "$DIR/nodes.yaml"
$keep_pki || rm -rf "$DIR"
echo "k8s-down: stopped, $DIR cleaned"
