#!/usr/bin/env bash
# Builds the reachprobe image with podman, on a machine that reaches no container registry
# (docs/image.md): the base image debian:12-slim is made from Debian's packages.
#
#   scripts/image.sh [--tag NAME] [--arch amd64|arm64] [--binary PATH | --from-source]
#
# --binary PATH (default build/reachprobe, built first when missing): the binary goes into
#   deploy/Dockerfile's runtime stage (target `prebuilt`).
# --from-source: the whole Dockerfile, its build stage included.
# --arch: the image's architecture (arm64: scripts/image-arm64.sh cross-compiles the binary).
# Default tag: reachprobe:dev (amd64), reachprobe:dev-arm64 (arm64).
#
# The base image is made once per machine and architecture: mmdebstrap --variant=minbase
# bookworm, without documentation and locales as debian:12-slim is made, kept as a tarball
# in ~/.cache/reachprobe (made again when older than a week, for the security updates; the
# packages it downloaded are kept there too, so that costs little download) and
# imported as debian:12-slim (debian:12-slim-arm64). Nothing is pulled (--pull=never), the
# build uses the host's network (never a bridge), storage is vfs (REACHPROBE_PODMAN_STORAGE).
set -euo pipefail
cd "$(dirname "$0")/.."

arch=amd64
tag=""
binary=build/reachprobe
from_source=0
while (($#)); do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --from-source) from_source=1; shift ;;
    *) echo "usage: $0 [--tag NAME] [--arch amd64|arm64] [--binary PATH | --from-source]" >&2; exit 2 ;;
  esac
done
case "$arch" in
  amd64) base=debian:12-slim; tag="${tag:-reachprobe:dev}" ;;
  arm64) base=debian:12-slim-arm64; tag="${tag:-reachprobe:dev-arm64}" ;;
  *) echo "--arch: amd64 or arm64, not '$arch'" >&2; exit 2 ;;
esac

podman=(podman --storage-driver="${REACHPROBE_PODMAN_STORAGE:-vfs}")
for tool in podman mmdebstrap; do
  command -v "$tool" >/dev/null 2>&1 || ./scripts/install-deps.sh
done

cache="${XDG_CACHE_HOME:-$HOME/.cache}/reachprobe"
mkdir -p "$cache"
# One image.sh at a time per machine and architecture makes or imports a base image.
exec 9>"$cache/image-$arch.lock"
flock 9

tarball="$cache/debian-12-slim-$arch.tar"
if [[ ! -s "$tarball" ]] || [[ -n "$(find "$tarball" -mtime +7)" ]]; then
  echo "image.sh: making the $arch base image from Debian's packages (mmdebstrap)" >&2
  start=$SECONDS
  # What debian:12-slim leaves out (its dpkg path-exclude list), left out here too; merged
  # /usr made by mmdebstrap's hook, not by the usrmerge package (which brings perl, 47 MB).
  # The downloaded packages are kept in the cache for the next time.
  debs="$cache/debs-$arch"
  mkdir -p "$debs"
  mmdebstrap --quiet --arch="$arch" --variant=minbase --format=tar \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr --skip=essential/unlink \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
    --setup-hook="sync-in '$debs' /var/cache/apt/archives/" \
    --customize-hook="sync-out /var/cache/apt/archives '$debs'" \
    --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/groff/*' \
    --dpkgopt='path-exclude=/usr/share/linda/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    bookworm "$tarball.tmp" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
  mv "$tarball.tmp" "$tarball"
  "${podman[@]}" rmi --ignore "$base" >/dev/null
  echo "image.sh: base image made in $((SECONDS - start)) s" >&2
fi
if ! "${podman[@]}" image exists "$base"; then
  "${podman[@]}" import --quiet --arch "$arch" --os linux \
    --change 'CMD ["bash"]' "$tarball" "$base" >/dev/null
fi

build=(build --pull=never --network host --isolation chroot --platform "linux/$arch"
  --build-arg "BASE_IMAGE=$base" -f deploy/Dockerfile)
start=$SECONDS
# The runtime stage under a name of its own: a later build reuses its layers (the
# apt-get install) while the name exists; `podman rmi` of it makes the next build fetch the
# current packages again.
"${podman[@]}" "${build[@]}" --target runtime-base -t "reachprobe-runtime-base:$arch" . >&2
if ((from_source)); then
  "${podman[@]}" "${build[@]}" --target runtime -t "$tag" . >&2
else
  if [[ "$binary" == build/reachprobe && ! -x "$binary" && "$arch" == amd64 ]]; then
    BUILD_TYPE="${BUILD_TYPE:-Release}" ./scripts/build.sh reachprobe
  fi
  if [[ ! -x "$binary" ]]; then
    echo "image.sh: no binary at $binary" >&2
    exit 1
  fi
  # Into the build context (.dockerignore lets build-image/*/reachprobe through), without
  # debug sections (the build stage strips the same).
  mkdir -p "build-image/$arch"
  strip_tool=strip
  if [[ "$arch" == arm64 ]]; then strip_tool=aarch64-linux-gnu-strip; fi
  "$strip_tool" --strip-debug -o "build-image/$arch/reachprobe.tmp" "$binary"
  mv "build-image/$arch/reachprobe.tmp" "build-image/$arch/reachprobe"
  "${podman[@]}" "${build[@]}" --target prebuilt --build-arg "BINARY=build-image/$arch/reachprobe" \
    -t "$tag" . >&2
fi
echo "image.sh: built $tag ($arch) in $((SECONDS - start)) s, $("${podman[@]}" image inspect --format '{{.Size}}' "$tag") bytes" >&2
echo "$tag"
