#!/usr/bin/env bash
# Provides the Prometheus binaries the metrics tests run (prometheus and promtool), and prints the directory
# that holds them.
#
#   scripts/prometheus-binaries.sh
#
# - PROMETHEUS_BIN: when it names a directory holding both binaries, that directory is used as it is.
# - Otherwise the binaries on the PATH (or in /usr/bin) are used; when missing they come from Debian's
#   `prometheus` package (installed with apt, which needs root). Debian's package brings promtool too.
# Progress goes to stderr; the directory is the only line on stdout.
set -euo pipefail

log() { echo "prometheus-binaries: $*" >&2; }
have() { [ -x "$1/prometheus" ] && [ -x "$1/promtool" ]; }

if [ -n "${PROMETHEUS_BIN:-}" ]; then
  if have "$PROMETHEUS_BIN"; then echo "$PROMETHEUS_BIN"; exit 0; fi
  log "PROMETHEUS_BIN=$PROMETHEUS_BIN lacks prometheus or promtool; looking elsewhere"
fi

found() {
  local p
  p="$(command -v promtool 2>/dev/null || true)"
  if [ -n "$p" ] && have "$(dirname "$p")"; then dirname "$p"; return 0; fi
  if have /usr/bin; then echo /usr/bin; return 0; fi
  return 1
}

if dir="$(found)"; then echo "$dir"; exit 0; fi

if [ "$(id -u)" != 0 ]; then
  log "prometheus/promtool are missing and apt needs root: run 'apt-get install prometheus'"
  exit 1
fi
# apt takes its own lock; a second caller waits for the first (up to 5 minutes).
log "installing prometheus with apt"
(apt-get update -qq \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 prometheus) >&2
# Debian's package starts a system Prometheus on :9090 where an init system runs; the tests start their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus >&2 || true
fi
if dir="$(found)"; then echo "$dir"; exit 0; fi
log "apt installed prometheus but prometheus/promtool are still not found"
exit 1
