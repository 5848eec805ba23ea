#!/usr/bin/env bash
# The ctest fixture of the image tests (tests/CMakeLists.txt):
#   build-test-image.sh build IMAGE BINARY   scripts/image.sh with BINARY, tagged IMAGE
#   build-test-image.sh remove IMAGE         removes IMAGE (the base images stay: a cache)
# Without root or podman it does nothing (the image tests then skip, saying why).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
action="$1"
image="$2"
if [[ $(id -u) -ne 0 ]] || ! command -v podman >/dev/null 2>&1; then
  echo "no image: the image tests need root and podman (scripts/install-deps.sh)"
  exit 0
fi
case "$action" in
  build) "$root/scripts/image.sh" --binary "$3" --tag "$image" ;;
  remove) podman --storage-driver=vfs rmi --force --ignore "$image" ;;
  *) echo "usage: $0 build IMAGE BINARY | remove IMAGE" >&2; exit 2 ;;
esac
