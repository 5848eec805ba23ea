#!/usr/bin/env bash
# Checks deploy/Dockerfile's package lists against the binary (the image itself is built
# and run by the image tests): RUNTIME_PACKAGES are exactly the Debian packages that hold
# the shared libraries `ldd` says the binary needs (each .so mapped to its package with
# dpkg -S), and TRUST_PACKAGES is the system trust store, which no library needs but the
# `tls` and `http` targets without a ca_file verify against (without it, the shipped `sts`
# target is a tls_error on every node), and nothing else.
#   deploy/check-dockerfile.sh [BINARY]   (default: build/reachprobe)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
binary="${1:-$root/build/reachprobe}"
dockerfile="$root/deploy/Dockerfile"

listed="$(sed -n 's/^ARG RUNTIME_PACKAGES="\(.*\)"$/\1/p' "$dockerfile" | tr ' ' '\n' | sed '/^$/d' | sort -u)"
if [[ -z "$listed" ]]; then
  echo "$dockerfile: no ARG RUNTIME_PACKAGES=\"...\" line" >&2
  exit 1
fi

trust="$(sed -n 's/^ARG TRUST_PACKAGES="\(.*\)"$/\1/p' "$dockerfile")"
if [[ "$trust" != ca-certificates ]]; then
  echo "$dockerfile: ARG TRUST_PACKAGES must be \"ca-certificates\" (the system trust store), not \"$trust\"" >&2
  exit 1
fi
if ! grep -q 'apt-get install .*\${RUNTIME_PACKAGES} \${TRUST_PACKAGES}' "$dockerfile"; then
  echo "$dockerfile: the runtime stage does not install \${RUNTIME_PACKAGES} \${TRUST_PACKAGES}" >&2
  exit 1
fi

needed=""
while read -r lib; do
  [[ -n "$lib" ]] || continue
  real="$(readlink -f "$lib")"
  # dpkg knows the path as installed (/lib or /usr/lib: merged /usr), so try both.
  pkg="$(dpkg -S "$real" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || true)"
  pkg="$(head -1 <<<"$pkg" | cut -d: -f1)"
  if [[ -z "$pkg" ]]; then
    echo "no Debian package holds $lib (needed by $binary)" >&2
    exit 1
  fi
  needed+="$pkg"$'\n'
done < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
needed="$(sed '/^$/d' <<<"$needed" | sort -u)"

missing="$(comm -23 <(echo "$needed") <(echo "$listed"))"
extra="$(comm -13 <(echo "$needed") <(echo "$listed"))"
if [[ -n "$missing" || -n "$extra" ]]; then
  [[ -n "$missing" ]] && echo "deploy/Dockerfile RUNTIME_PACKAGES lacks (ldd needs): $(echo $missing)" >&2
  [[ -n "$extra" ]] && echo "deploy/Dockerfile RUNTIME_PACKAGES has (ldd does not need): $(echo $extra)" >&2
  exit 1
fi
echo "runtime packages match ldd: $(echo $needed); trust store: $trust"
