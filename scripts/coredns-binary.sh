#!/usr/bin/env bash
# Provides CoreDNS for the e2e tier (the cluster's DNS, run on the host) and prints the path of the binary.
#
#   scripts/coredns-binary.sh
#
# Built with `go install github.com/coredns/coredns@$COREDNS_VERSION` (static, CGO off) into a cache outside
# the clone, keyed by version: ${RAFTKV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/raftkv}/coredns/<version>/.
# A binary already there is not built again; a lock makes concurrent runs wait for one build.
# Progress goes to stderr; the path is the only line on stdout.
set -euo pipefail

COREDNS_VERSION="${COREDNS_VERSION:-v1.14.7}"
log() { echo "coredns-binary: $*" >&2; }
cache="${RAFTKV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/raftkv}/coredns/$COREDNS_VERSION"
bin="$cache/coredns"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

start=$(date +%s)
log "building coredns $COREDNS_VERSION (a few minutes on a cold build cache)"
rm -rf "$cache/gobin"
(GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$cache/gobin" GOFLAGS=-trimpath \
  go install -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION") >&2
mv "$cache/gobin/coredns" "$bin"
rm -rf "$cache/gobin"
log "built coredns in $(($(date +%s) - start)) s"
echo "$bin"
