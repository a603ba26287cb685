#!/usr/bin/env bash
# Installs, with apt, what the e2e tier (test/e2e/cluster) runs besides the Kubernetes binaries and CoreDNS:
# containerd and runc (a containerd of its own, beside Docker's), the CNI plugins (bridge, host-local,
# loopback, portmap in /usr/lib/cni), iptables and iproute2. Only what is missing is installed.
#
#   scripts/e2e-prereqs.sh        exit 0 when everything is there afterwards
set -euo pipefail
log() { echo "e2e-prereqs: $*" >&2; }

# command or file that proves each Debian package is present
declare -A probe=(
  [containerd]=/usr/bin/containerd
  [runc]=/usr/sbin/runc
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [iptables]=/usr/sbin/iptables
  [iproute2]=/usr/sbin/ip
)
missing=()
for p in "${!probe[@]}"; do [ -e "${probe[$p]}" ] || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  log "missing ${missing[*]} and apt needs root: run 'apt-get install ${missing[*]}'"
  exit 1
fi
log "installing ${missing[*]} with apt"
# A lock so two test runs do not call apt at once.
exec 9>/var/lock/raftkv-e2e-prereqs.lock
flock 9
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >&2
for p in "${!probe[@]}"; do
  [ -e "${probe[$p]}" ] || { log "$p is still missing (${probe[$p]})"; exit 1; }
done
