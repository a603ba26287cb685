#!/usr/bin/env bash
# Provides the helm binary the chart tests run, and prints its path.
#
#   scripts/helm-binary.sh
#
# - HELM_BINARY: when it names an executable helm of the wanted version, it is used as it is.
# - Otherwise helm $HELM_VERSION is built from its Go modules (go install helm.sh/helm/v4/cmd/helm@<version>)
#   into a cache outside the clone, keyed by version:
#   ${RAFTKV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/raftkv}/helm/<version>/helm. A binary already there is
#   not built again. A lock makes concurrent runs wait for one build.
# Progress goes to stderr; the binary's path is the only line on stdout.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v4.3.2}"
log() { echo "helm-binary: $*" >&2; }

if [ -n "${HELM_BINARY:-}" ] && [ -x "$HELM_BINARY" ]; then
  if "$HELM_BINARY" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
    log "using HELM_BINARY=$HELM_BINARY"
    echo "$HELM_BINARY"
    exit 0
  fi
  log "HELM_BINARY=$HELM_BINARY is not helm $HELM_VERSION; building instead"
fi

cache="${RAFTKV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/raftkv}/helm/$HELM_VERSION"
bin="$cache/helm"
mkdir -p "$cache"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

# One lock per cache directory: two test runs must not build into the same place at once.
exec 9>"$cache/.lock"
flock 9
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

start=$(date +%s)
log "building helm $HELM_VERSION with go install (a few minutes on a cold module cache)"
# Built into a scratch GOBIN and moved, so an interrupted build never leaves a half-written binary.
tmp="$cache/.gobin.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
# The version stamp helm's own Makefile sets (without it `helm version` says only "v4.3").
ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
GOBIN="$tmp" GOTOOLCHAIN=local CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" >&2
mv "$tmp/helm" "$bin"
log "built helm $HELM_VERSION in $(($(date +%s) - start)) s"
echo "$bin"
