#!/usr/bin/env bash
# Builds the raftkv-node and raftkv-operator images from node/Dockerfile and operator/Dockerfile with the
# classic builder (context: the repository root).
#
#   scripts/build-images.sh [--base IMAGE] [--tag TAG] [--prefix REGISTRY/] [--host-deps] [-- docker build flags]
#
#   --base IMAGE   the BASE_IMAGE build arg (default: the Dockerfiles' node:24-bookworm-slim)
#   --tag TAG      image tag (default: package.json's version); images are <prefix>raftkv-node:TAG and
#                  <prefix>raftkv-operator:TAG
#   --prefix P     prepended to both names, e.g. ghcr.io/acme/
#   --host-deps    run `npm ci --omit=dev` on this machine into .cache/image-deps (removed again at the end)
#                  so the builds need no registry access; use it when the build containers cannot reach the
#                  npm registry or reach it only through a CA this host trusts. The host must be linux x64
#                  (glibc), like the images. Concurrent --host-deps runs wait for each other (a lock).
#   after --       passed to both `docker build` runs (e.g. --network none, --label k=v)
#
# Prints the two image names on stdout, one per line. Needs an engine (scripts/docker-engine.sh start).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
base="" tag="" prefix="" host_deps=0 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base="${2:?--base needs an image}"; shift 2 ;;
    --tag) tag="${2:?--tag needs a tag}"; shift 2 ;;
    --prefix) prefix="${2:?--prefix needs a value}"; shift 2 ;;
    --host-deps) host_deps=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "build-images: unknown argument $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done
version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$root/package.json")"
tag="${tag:-$version}"
revision="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"

staged="$root/.cache/image-deps"
if [ "$host_deps" = 1 ]; then
  # The Dockerfiles read one fixed folder, so concurrent --host-deps runs take turns.
  mkdir -p "$root/.cache"
  exec 9>"$root/.cache/image-deps.lock"
  flock 9
  rm -rf "$staged" && mkdir -p "$staged"
  trap 'rm -rf "$staged"' EXIT
  cp "$root/package.json" "$root/package-lock.json" "$staged/"
  (cd "$staged" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >&2)
  # Only node_modules is picked up by the Dockerfiles; the manifests come from the repository.
  rm "$staged/package.json" "$staged/package-lock.json"
elif [ -e "$staged" ]; then
  echo "build-images: $staged exists and would be used by the builds; delete it or pass --host-deps" >&2
  exit 2
fi

args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision")
[ -n "$base" ] && args+=(--build-arg "BASE_IMAGE=$base")
for image in node operator; do
  name="${prefix}raftkv-$image:$tag"
  echo "build-images: building $name" >&2
  DOCKER_BUILDKIT=0 docker build "${args[@]}" ${extra[@]+"${extra[@]}"} -f "$root/$image/Dockerfile" -t "$name" "$root" >&2
  echo "$name"
done
