#!/usr/bin/env bash
# Builds (once, cached on the machine, keyed by version) a real Kubernetes control plane for the
# kubernetes driver's tests: kube-apiserver, kube-controller-manager and kube-scheduler from the
# k8s.io/kubernetes module, KWOK (sigs.k8s.io/kwok) for fake nodes, and etcd from
# go.etcd.io/etcd/server/v3 (Debian's etcd-server is 3.4, older than this apiserver expects).
#
#   scripts/k8s-build.sh            build what is missing, print the bin folder
#   scripts/k8s-build.sh --check    print the bin folder when all is built, else exit 3 (no build)
#
# Environment: CIRRUS_K8S_CACHE (default ~/.cache/cirrus-k8s), CIRRUS_K8S_VERSION (v1.36.3),
# CIRRUS_KWOK_VERSION (v0.8.0), CIRRUS_ETCD_VERSION (v3.6.x), CIRRUS_K8S_BUILD_JOBS (2).
set -euo pipefail

K8S_VERSION="${CIRRUS_K8S_VERSION:-v1.36.3}"
KWOK_VERSION="${CIRRUS_KWOK_VERSION:-v0.8.0}"
ETCD_VERSION="${CIRRUS_ETCD_VERSION:-v3.6.8}"
JOBS="${CIRRUS_K8S_BUILD_JOBS:-2}"
CACHE="${CIRRUS_K8S_CACHE:-$HOME/.cache/cirrus-k8s}"
KEY="k8s-${K8S_VERSION}_kwok-${KWOK_VERSION}_etcd-${ETCD_VERSION}"
OUT="$CACHE/$KEY"
BIN="$OUT/bin"
LOG="$OUT/build.log"

export PATH="$PATH:/usr/local/go/bin"

want=(kube-apiserver kube-controller-manager kube-scheduler kwok etcd)
missing=()
for b in "${want[@]}"; do [ -x "$BIN/$b" ] || missing+=("$b"); done
[ -f "$BIN/kwok-stages.yaml" ] || missing+=(kwok-stages.yaml)
if [ ${#missing[@]} -eq 0 ]; then
  echo "$BIN"
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "k8s-build: not built yet: ${missing[*]} (in $BIN; scripts/k8s-build.sh builds them)" >&2
  exit 3
fi
if ! command -v go >/dev/null 2>&1; then
  echo "k8s-build: go not found (looked in PATH and /usr/local/go/bin)" >&2
  exit 2
fi

mkdir -p "$BIN" "$OUT/src"
exec 9>"$OUT/.lock"
flock 9
start=$(date +%s)
echo "k8s-build: building ${missing[*]} into $BIN (log: $LOG)" >&2
export GOFLAGS="-buildvcs=false -p=$JOBS" GOMAXPROCS="$JOBS" CGO_ENABLED=0 GOTOOLCHAIN=local
ldflags="-s -w"

# kube-apiserver, kube-controller-manager, kube-scheduler: a generated module that requires
# k8s.io/kubernetes and points each staging module (v0.0.0 in its go.mod) at the matching v0.x.
if [ ! -x "$BIN/kube-apiserver" ] || [ ! -x "$BIN/kube-controller-manager" ] || [ ! -x "$BIN/kube-scheduler" ]; then
  mod="$OUT/src/kubernetes"
  mkdir -p "$mod"
  staging_version="v0.${K8S_VERSION#v1.}"
  {
    echo "module cirrus.local/k8s-build"
    echo
    echo "go $(go env GOVERSION | sed 's/^go//')"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >"$mod/.download.json"
    gomod=$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' "$mod/.download.json")
    awk '/^\tk8s\.io\/[a-z0-9-]+ v0\.0\.0$/ {print $1}' "$gomod" | sort -u | while read -r m; do
      echo "replace $m => $m $staging_version"
    done
  } >"$mod/go.mod.new"
  mv "$mod/go.mod.new" "$mod/go.mod"
  (
    cd "$mod"
    nice -n 19 go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kube-scheduler@$K8S_VERSION"
    for c in kube-apiserver kube-controller-manager kube-scheduler; do
      [ -x "$BIN/$c" ] && continue
      t=$(date +%s)
      nice -n 19 go build -trimpath -ldflags "$ldflags" -o "$BIN/$c.tmp" "k8s.io/kubernetes/cmd/$c"
      mv "$BIN/$c.tmp" "$BIN/$c"
      echo "k8s-build: $c in $(($(date +%s) - t)) s" >&2
    done
  ) >>"$LOG" 2>&1 || { echo "k8s-build: kubernetes build failed, see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
fi

# KWOK: its module has no replace directives, so go install works.
if [ ! -x "$BIN/kwok" ]; then
  t=$(date +%s)
  GOBIN="$BIN" nice -n 19 go install -trimpath -ldflags "$ldflags" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >>"$LOG" 2>&1 ||
    { echo "k8s-build: kwok build failed, see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
  echo "k8s-build: kwok in $(($(date +%s) - t)) s" >&2
fi

# KWOK's own stages (the standalone kwok binary has none built in): nodes become Ready and keep
# heart-beating, pods become Running, deleted pods go away. Taken from the kwok module as released.
if [ ! -f "$BIN/kwok-stages.yaml" ]; then
  src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
  [ -d "$src" ] || go mod download "sigs.k8s.io/kwok@$KWOK_VERSION" >>"$LOG" 2>&1
  for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo "---"
    cat "$src/$f"
  done >"$BIN/kwok-stages.yaml.tmp"
  mv "$BIN/kwok-stages.yaml.tmp" "$BIN/kwok-stages.yaml"
fi

# etcd: the root module go.etcd.io/etcd/v3 has replace directives, so a generated module whose
# main only calls the real etcdmain.Main (the same as etcd's own main.go).
if [ ! -x "$BIN/etcd" ]; then
  t=$(date +%s)
  mod="$OUT/src/etcd"
  mkdir -p "$mod"
  cat >"$mod/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  printf 'module cirrus.local/etcd-build\n\ngo %s\n' "$(go env GOVERSION | sed 's/^go//')" >"$mod/go.mod"
  (
    cd "$mod"
    nice -n 19 go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    nice -n 19 go mod tidy
    nice -n 19 go build -trimpath -ldflags "$ldflags" -o "$BIN/etcd.tmp" .
    mv "$BIN/etcd.tmp" "$BIN/etcd"
  ) >>"$LOG" 2>&1 || { echo "k8s-build: etcd build failed, see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
  echo "k8s-build: etcd in $(($(date +%s) - t)) s" >&2
fi

echo "k8s-build: done in $(($(date +%s) - start)) s" >&2
echo "$(($(date +%s) - start))" >"$OUT/build-seconds"
echo "$BIN"
