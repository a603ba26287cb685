#!/usr/bin/env bash
# Provides the Kubernetes binaries the k8s (and e2e) test tiers run, and prints the directory that holds them.
#
#   scripts/k8s-binaries.sh [binary ...]   default: kube-apiserver kube-controller-manager kubectl
#
# - KUBEBUILDER_ASSETS (the envtest convention): when it names a directory holding every binary asked
#   for (and etcd), that directory is used as it is and nothing is built.
# - Otherwise each binary is built from the Go modules k8s.io/kubernetes@$K8S_VERSION through a wrapper
#   module (go install refuses the module's replace directives), into a cache outside the clone, keyed by
#   version: ${RAFTKV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/raftkv}/k8s/<version>/. A binary already
#   there is not built again. etcd comes from Debian's etcd-server (installed with apt when missing) and is
#   linked into the same directory.
# Progress goes to stderr; the directory is the only line on stdout.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(kube-apiserver kube-controller-manager kubectl)
log() { echo "k8s-binaries: $*" >&2; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  ok=1
  for b in "${want[@]}" etcd; do [ -x "$KUBEBUILDER_ASSETS/$b" ] || ok=0; done
  if [ "$ok" = 1 ]; then
    log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
    echo "$KUBEBUILDER_ASSETS"
    exit 0
  fi
  log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks some of: ${want[*]} etcd; building instead"
fi

cache="${RAFTKV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/raftkv}/k8s/$K8S_VERSION"
bin="$cache/bin"
src="$cache/src"
mkdir -p "$bin" "$src"

# etcd from Debian (3.4 works with kube-apiserver 1.34 for these tests).
if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
  log "installing etcd-server with apt"
  if [ "$(id -u)" != 0 ]; then log "etcd is missing and apt needs root: run 'apt-get install etcd-server'"; exit 1; fi
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server) >&2
fi
ln -sf "$(command -v etcd || echo /usr/bin/etcd)" "$bin/etcd"

missing=()
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$bin"
  exit 0
fi

# One lock per cache directory: two test runs must not build into the same place at once.
exec 9>"$cache/.lock"
flock 9
missing=()
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then echo "$bin"; exit 0; fi

staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap
  code-generator component-base component-helpers controller-manager cri-api cri-client csi-translation-lib
  dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
  kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin
  sample-controller)
cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

if [ ! -f "$src/go.sum" ] || ! grep -q "k8s.io/kubernetes $K8S_VERSION" "$src/go.mod" 2>/dev/null; then
  log "writing the wrapper module in $src"
  {
    echo "module raftkv.local/k8s-binaries"
    echo
    echo "go 1.24"
    echo
    echo "godebug default=go1.24"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    for m in "${staging[@]}"; do echo "replace k8s.io/$m => k8s.io/$m $STAGING_VERSION"; done
  } >"$src/go.mod"
  {
    echo "//go:build tools"
    echo
    echo "// Package tools keeps the Kubernetes commands in this module's dependency graph."
    echo "package tools"
    echo
    echo "import ("
    for c in "${cmds[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
    echo ")"
  } >"$src/tools.go"
  log "resolving modules (go mod tidy)"
  (cd "$src" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod tidy) >&2
fi

pkg=k8s.io/component-base/version
cpkg=k8s.io/client-go/pkg/version
ldflags="-s -w"
for p in "$pkg" "$cpkg"; do
  ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
  ldflags+=" -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.gitTreeState=clean"
  ldflags+=" -X $p.buildDate=1970-01-01T00:00:00Z"
done
for b in "${missing[@]}"; do
  start=$(date +%s)
  log "building $b $K8S_VERSION (several minutes on a cold build cache)"
  (cd "$src" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -tags selinux,notest,grpcnotrace,providerless \
    -ldflags "$ldflags" -o "$bin/$b.tmp" "k8s.io/kubernetes/cmd/$b") >&2
  mv "$bin/$b.tmp" "$bin/$b"
  log "built $b in $(($(date +%s) - start)) s"
done
echo "$bin"
