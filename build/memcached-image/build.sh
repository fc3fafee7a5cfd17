#!/usr/bin/env bash
# Builds a minimal memcached image from the host's Debian memcached binary.
#
# There is no container registry on the project's machines (DESIGN.md §7), so the
# image is assembled locally: /usr/bin/memcached plus every library ldd lists
# (the dynamic loader included), copied at the paths ldd reports into an empty
# rootfs, then FROM scratch. The image has no shell; wait for it with a
# memcached `version` probe, not with a shell command.
#
# Usage: build/memcached-image/build.sh [TAG]
#   TAG defaults to $UPLOADONCE_MEMCACHED_IMAGE, then uploadonce/memcached:local.
#   MEMCACHED_BIN overrides the binary (default /usr/bin/memcached).
#   DOCKER overrides the docker CLI (default docker).
set -euo pipefail

tag="${1:-${UPLOADONCE_MEMCACHED_IMAGE:-uploadonce/memcached:local}}"
bin="${MEMCACHED_BIN:-/usr/bin/memcached}"
docker="${DOCKER:-docker}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ ! -x "$bin" ]]; then
	echo "build.sh: $bin not found; install it with: apt-get install -y memcached" >&2
	exit 1
fi
command -v ldd >/dev/null || { echo "build.sh: ldd not found" >&2; exit 1; }

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs"

# copy_in PATH copies PATH (following symlinks) to the same path inside rootfs.
copy_in() {
	local src="$1"
	mkdir -p "$ctx/rootfs$(dirname "$src")"
	cp -L "$src" "$ctx/rootfs$src"
}

copy_in "$bin"
# ldd prints "name => /path (addr)" for libraries and "/path (addr)" for the
# loader; linux-vdso has no file and is skipped.
while read -r lib; do
	copy_in "$lib"
done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)

# The memcached binary path inside the image is fixed by the Dockerfile's
# ENTRYPOINT; keep it there even when MEMCACHED_BIN points elsewhere.
if [[ "$bin" != /usr/bin/memcached ]]; then
	mkdir -p "$ctx/rootfs/usr/bin"
	cp -L "$bin" "$ctx/rootfs/usr/bin/memcached"
fi

cp "$here/Dockerfile" "$ctx/Dockerfile"
echo "build.sh: building $tag from $bin ($("$bin" -V))" >&2
"$docker" build --quiet -t "$tag" "$ctx" >/dev/null
echo "build.sh: built $tag" >&2

# Smoke test: the image must start as its unprivileged user and answer.
"$docker" run --rm --entrypoint /usr/bin/memcached "$tag" -V
