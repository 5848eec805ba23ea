#!/usr/bin/env bash
# The linux/arm64 image, and one tag for both architectures (docs/image.md). Not part of
# CI (its time is in docs/image.md); run as root on Debian 12:
#
#   scripts/image-arm64.sh [--tag NAME]      (default: reachprobe:VERSION, VERSION from CMake)
#
# 1. a sysroot of Debian 12's arm64 -dev packages (mmdebstrap --variant=extract, kept in
#    ~/.cache/reachprobe): not :arm64 packages on this machine, because prometheus-cpp-dev
#    and libyaml-cpp-dev are not multi-arch and would replace the amd64 ones;
# 2. the daemon cross-compiled with Debian's aarch64 toolchain (crossbuild-essential-arm64,
#    cmake/aarch64-linux-gnu.cmake) into build-arm64/;
# 3. that binary under qemu-user-static: --version, and check on config/local.yaml;
# 4. the arm64 image (scripts/image.sh --arch arm64: the same runtime stage; its apt-get
#    runs under qemu through binfmt_misc) and the same two runs from the image;
# 5. a manifest list NAME of the amd64 image (reachprobe:dev, scripts/image.sh) and the
#    arm64 one, pushed with `podman manifest push --all` to an OCI layout in build-image/,
#    whose index must name both platforms: what a registry would receive.
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(sed -n 's/^project(reachprobe VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
tag="reachprobe:$version"
while (($#)); do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    *) echo "usage: $0 [--tag NAME]" >&2; exit 2 ;;
  esac
done
REACHPROBE_CROSS=arm64 ./scripts/install-deps.sh
podman=(podman --storage-driver="${REACHPROBE_PODMAN_STORAGE:-vfs}")
step() {
  echo "::: image-arm64: $1" >&2
}
t0=$SECONDS

# binfmt_misc: arm64 programs run through qemu-aarch64-static (F: the interpreter is opened
# now, so it works inside containers and chroots too).
if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
  [[ -e /proc/sys/fs/binfmt_misc/register ]] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  cat /usr/lib/binfmt.d/qemu-aarch64.conf >/proc/sys/fs/binfmt_misc/register
fi

step "sysroot"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/reachprobe"
sysroot="$cache/sysroot-arm64"
mkdir -p "$cache"
packages="libc6-dev,libstdc++-12-dev,libboost-dev,libc-ares-dev,prometheus-cpp-dev,libyaml-cpp-dev,libspdlog-dev,libfmt-dev,libssl-dev,libcrypt-dev"
if [[ ! -f "$sysroot/.packages" || "$(cat "$sysroot/.packages")" != "$packages" ]]; then
  rm -rf "$sysroot" "$sysroot.tar"
  mmdebstrap --quiet --arch=arm64 --variant=extract --include="$packages" bookworm "$sysroot.tar" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
  mkdir -p "$sysroot"
  tar -C "$sysroot" -xf "$sysroot.tar"
  rm -f "$sysroot.tar"
  echo "$packages" >"$sysroot/.packages"
fi

step "cross-compiling build-arm64/reachprobe"
t=$SECONDS
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
export REACHPROBE_ARM64_SYSROOT="$sysroot"
cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DREACHPROBE_BUILD_TESTS=OFF -DREACHPROBE_WERROR=ON \
  "${launcher[@]}" >/dev/null
cmake --build build-arm64 --parallel "$(nproc)" --target reachprobe
file build-arm64/reachprobe | grep -q 'ARM aarch64' || { file build-arm64/reachprobe >&2; exit 1; }
echo "::: image-arm64: cross build took $((SECONDS - t)) s" >&2

# `check` on the loopback config: nothing listens on 9754 when it runs, so each of its 3
# endpoints is `refused` (exit status 1), `localhost` resolved on the way.
# The rows of the "results" member only (the remediation member names the failures again).
refused_three() {
  local rows="${1%%\], \"remediation\"*}"
  [[ "$(grep -o '"result": "[a-z_]*"' <<<"$rows" | sort | uniq -c | sed 's/^ *//')" == '3 "result": "refused"' ]] &&
    grep -q '"ok": 0, "failed": 3}' <<<"$1"
}
step "the arm64 binary under qemu-user-static"
qemu=(qemu-aarch64-static -L "$sysroot")
"${qemu[@]}" build-arm64/reachprobe --version
status=0
out="$("${qemu[@]}" build-arm64/reachprobe check --config config/local.yaml --format json)" || status=$?
echo "$out"
if [[ $status -ne 1 ]] || ! refused_three "$out"; then
  echo "image-arm64: expected the 3 loopback endpoints refused (exit 1), got exit $status" >&2
  exit 1
fi

step "the arm64 image"
t=$SECONDS
arm_tag="$(./scripts/image.sh --arch arm64 --binary build-arm64/reachprobe)"
echo "::: image-arm64: image built in $((SECONDS - t)) s" >&2
run=("${podman[@]}" --runtime runc run --rm --pull=never --network none --platform linux/arm64
  --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --read-only --read-only-tmpfs=false
  --cap-drop ALL --security-opt no-new-privileges)
"${run[@]}" "$arm_tag" --version
"${run[@]}" --entrypoint /usr/bin/uname "$arm_tag" -m | grep -qx aarch64
status=0
out="$("${run[@]}" "$arm_tag" check --config /usr/local/share/doc/reachprobe/examples/local.yaml --format json)" || status=$?
echo "$out"
if [[ $status -ne 1 ]] || ! refused_three "$out"; then
  echo "image-arm64: expected the 3 loopback endpoints refused (exit 1), got exit $status" >&2
  exit 1
fi

step "one tag for both: manifest list $tag"
# The amd64 image of the same tree (build/reachprobe), not whatever reachprobe:dev was before.
./scripts/image.sh >/dev/null
"${podman[@]}" manifest rm "$tag" >/dev/null 2>&1 || true
"${podman[@]}" manifest create "$tag" >/dev/null
"${podman[@]}" manifest add "$tag" containers-storage:localhost/reachprobe:dev >/dev/null
"${podman[@]}" manifest add "$tag" "containers-storage:localhost/${arm_tag#localhost/}" >/dev/null
"${podman[@]}" manifest inspect "$tag"
rm -rf build-image/oci
"${podman[@]}" manifest push --all "$tag" oci:build-image/oci:"${tag##*:}" >&2
platforms="$(grep -o '"architecture": *"[a-z0-9]*"' build-image/oci/blobs/sha256/* 2>/dev/null | sed 's/.*"\([a-z0-9]*\)"$/\1/' | sort -u | tr '\n' ' ')"
echo "::: image-arm64: pushed $tag (oci:build-image/oci), architectures: $platforms" >&2
[[ "$platforms" == *amd64* && "$platforms" == *arm64* ]]
echo "::: image-arm64: done in $((SECONDS - t0)) s" >&2
