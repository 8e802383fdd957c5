#!/usr/bin/env bash
# Where Docker Hub is unreachable (the development machine reaches only Debian's mirror and the npm registry), a
# stand-in for node:20-bookworm-slim, made of the same parts: Debian bookworm (minbase, by debootstrap from Debian's
# mirror), this machine's Node 20 and npm at the official image's paths, and the official image's `node` user
# (uid/gid 1000). Usage: standin-node-image.sh [tag]. Idempotent: an existing tag is kept.
set -euo pipefail
tag=${1:-localhost/node-standin:20-bookworm-slim}
if podman image exists "$tag"; then exit 0; fi
[ "$(node -p 'process.versions.node.split(".")[0]')" = 20 ] || { echo "standin: this machine's node is not Node 20" >&2; exit 2; }
command -v debootstrap >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends debootstrap >/dev/null
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
install -m 755 "$(readlink -f "$(command -v node)")" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
# This machine's npm may reach its registry through a TLS-intercepting proxy: the CA file its config names comes along.
cafile=$(npm config get cafile 2>/dev/null || true)
if [ -n "$cafile" ] && [ "$cafile" != null ] && [ -f "$cafile" ]; then
  mkdir -p "$root$(dirname "$cafile")" && cp "$cafile" "$root$cafile"
  printf 'cafile=%s\n' "$cafile" > "$root/usr/local/etc/npmrc"
fi
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | podman import -q --change 'CMD ["node"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$tag" >/dev/null
echo "standin: $tag (Debian bookworm minbase, node $(node -v))" >&2
