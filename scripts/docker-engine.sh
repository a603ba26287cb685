#!/usr/bin/env bash
# A Docker engine for building and testing the images on a machine where nothing starts one.
#
#   scripts/docker-engine.sh start [DIR] [--holder PID]   # prints DOCKER_HOST=... on stdout
#   scripts/docker-engine.sh stop [DIR] [--holder PID]    # lets go of it; the last holder stops it
#
# start: if an engine already answers at $DOCKER_HOST (or the default socket) it prints that one's
# DOCKER_HOST and changes nothing. Otherwise it uses the engine this script runs in DIR (default
# /tmp/raftkv-docker), starting dockerd there if it is not running: data root, exec root, socket, pid file
# and log (DIR/dockerd.log) all in DIR; it waits up to 60 s for it to answer. Each user is recorded as a
# holder (PID, default: the caller's process) so that concurrent test runs share one engine instead of
# starting two daemons that fight over bridges and iptables; stop forgets the holder (and any holder
# process that is gone) and stops dockerd and removes DIR when none is left. The engine gets an
# unreachable HTTP(S) proxy, so an image pull fails at once instead of leaving the machine. A machine with
# no dockerd gets Debian's docker.io (and tini) from apt first, when run as root.
# By hand: eval "export $(scripts/docker-engine.sh start --holder $$)"; ...; scripts/docker-engine.sh stop --holder $$
# Exit codes: 0 ok, 1 the engine did not come up (the end of its log is printed), 2 bad usage.
set -euo pipefail

usage() { echo "usage: $0 start|stop [DIR] [--holder PID]" >&2; exit 2; }

answers() { timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# Holders whose process is gone are forgotten.
prune_holders() {
  local f
  for f in "$dir/holders"/*; do
    [ -e "$f" ] || continue
    kill -0 "$(basename "$f")" 2>/dev/null || rm -f "$f"
  done
}

start() {
  if answers; then
    echo "DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}"
    echo "docker-engine: an engine already answers; nothing started" >&2
    return 0
  fi
  install_engine
  local sock="unix://$dir/docker.sock"
  mkdir -p "$dir/holders"
  exec 9>"$dir.lock"
  flock 9
  if ! DOCKER_HOST="$sock" answers; then
    # setsid: the engine outlives this script and is not hit by the caller's Ctrl-C; 9>&-: it must not
    # inherit (and so hold forever) the lock.
    HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
      setsid dockerd --data-root "$dir/root" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
      -H "$sock" >>"$dir/dockerd.log" 2>&1 </dev/null 9>&- &
    local up=0
    for _ in $(seq 1 120); do
      if DOCKER_HOST="$sock" answers; then up=1; break; fi
      sleep 0.5
    done
    if [ "$up" = 0 ]; then
      echo "docker-engine: dockerd did not answer within 60 s; end of $dir/dockerd.log:" >&2
      tail -20 "$dir/dockerd.log" >&2 || true
      prune_holders
      [ -n "$(ls -A "$dir/holders")" ] || shutdown
      exit 1
    fi
    echo "docker-engine: started dockerd in $dir (log: $dir/dockerd.log)" >&2
  fi
  touch "$dir/holders/$holder"
  echo "DOCKER_HOST=$sock"
  echo "docker-engine: holder $holder; let go with: $0 stop $dir --holder $holder" >&2
}

# Installs Debian's docker.io (dockerd, and tini, which the base image copies) when dockerd is missing.
# A machine may have only the docker CLI; CI starts from such a machine, so it must not be a skip.
install_engine() {
  command -v dockerd >/dev/null && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "docker-engine: no dockerd, and installing it needs root and apt: run 'apt-get install docker.io'" >&2
    exit 1
  fi
  echo "docker-engine: no dockerd; installing docker.io with apt" >&2
  # The same lock as scripts/e2e-prereqs.sh, so two test runs do not call apt at once.
  (
    flock 8
    command -v dockerd >/dev/null \
      || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io tini) >&2
  ) 8>/var/lock/raftkv-e2e-prereqs.lock
  command -v dockerd >/dev/null || { echo "docker-engine: apt-get install docker.io did not give a dockerd" >&2; exit 1; }
}

# Stops dockerd (TERM, then KILL after 30 s) and removes DIR.
shutdown() {
  local pid
  if [ -f "$dir/dockerd.pid" ]; then
    pid="$(cat "$dir/dockerd.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "docker-engine: dockerd $pid still runs after 30 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
    fi
  fi
  # Mounts the engine may have left under its roots (overlay layers, netns) must go before the folder.
  { grep -o " $dir/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$dir"
  echo "docker-engine: stopped dockerd; removed $dir" >&2
}

stop() {
  if [ ! -d "$dir/holders" ]; then
    # An engine started without holders (an earlier version of this script) is simply stopped.
    if [ -f "$dir/dockerd.pid" ]; then shutdown; else echo "docker-engine: no engine of this script in $dir" >&2; fi
    return 0
  fi
  exec 9>"$dir.lock"
  flock 9
  rm -f "$dir/holders/$holder"
  prune_holders
  if [ -n "$(ls -A "$dir/holders")" ]; then
    echo "docker-engine: still held by $(ls "$dir/holders" | tr '\n' ' '); left running" >&2
  else
    shutdown
  fi
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
dir=/tmp/raftkv-docker holder="$PPID"
while [ $# -gt 0 ]; do
  case "$1" in
    --holder) holder="${2:?--holder needs a pid}"; shift 2 ;;
    -*) usage ;;
    *) dir="$1"; shift ;;
  esac
done
mkdir -p "$(dirname "$dir")"
dir="$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")"
case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
