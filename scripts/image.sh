#!/usr/bin/env bash
# Build the Docker image without a Docker daemon, with Debian's buildah.
#
#   scripts/image.sh tools          install buildah and debootstrap when they are missing
#   scripts/image.sh base           make sure the Dockerfile's base image is in local storage
#   scripts/image.sh build [TAG]    build the Dockerfile as TAG (default screenshotd:test)
#
# `make image` and `make image-test` call it. The base image (debian:bookworm-slim, or the
# Dockerfile's BASE_IMAGE build argument) is pulled from its registry when one can be reached.
# Where none can, a stand-in is made from Debian's own packages: `debootstrap --variant=minbase`
# plus the "slim" trimming that Debian's official images apply (no docs, man pages or locales),
# which is what debian:bookworm-slim is. A python:3.11-slim-bookworm stand-in adds Debian's
# python3 and a `python` link on top, for comparing the two bases.
#
# Where this machine reaches PyPI through its own CA bundle (pip's `cert` setting), that bundle
# and a pip config naming it are passed as build secrets to the pip step alone, never copied
# into the image.
#
# Settings (environment): BUILDAH_STORAGE_DRIVER (vfs), DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR
# (deb.debian.org),
# BASE_IMAGE (what the Dockerfile's BASE_IMAGE argument is set to; its default when empty).
set -euo pipefail

cd "$(dirname "$0")/.."
DRIVER="${BUILDAH_STORAGE_DRIVER:-vfs}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
SUITE=bookworm

buildah_() { buildah --storage-driver "$DRIVER" "$@"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "run as root: $*" >&2; exit 1
  fi
}

cmd_tools() {
  local missing=()
  command -v buildah >/dev/null 2>&1 || missing+=(buildah)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The base image the Dockerfile starts from: its BASE_IMAGE argument's default, or $BASE_IMAGE.
base_name() {
  local name="${BASE_IMAGE:-}"
  [ -n "$name" ] || name=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile | head -n 1)
  [ -n "$name" ] || { echo "the Dockerfile names no ARG BASE_IMAGE" >&2; exit 1; }
  # Short names are Docker Hub's official images, as Docker reads them.
  case "$name" in
    */*/*) ;;
    */*) name="docker.io/$name" ;;
    *) name="docker.io/library/$name" ;;
  esac
  echo "$name"
}

have_image() { buildah_ inspect --type image "$1" >/dev/null 2>&1; }

# debian:bookworm-slim, made here: a minbase root file system, trimmed as the official slim
# images are, and with the apt settings they carry (no package cache kept, no translations).
make_debian_slim_rootfs() {
  local rootfs=$1
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 \
    || { tail -n 20 "$rootfs.log" >&2; exit 1; }
  # The official image's sources: the release, its updates and its security updates (Chromium's
  # fixes arrive through the last).
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# The "slim" variant: files containers do not need are left out, now and at every install.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{groff,info,linda,man,locale}/* "$rootfs"/usr/share/lintian/overrides/*
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  rm -f "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf"
}

# python:3.11-slim-bookworm, made here: the slim Debian with Debian's Python 3.11, pip's
# ensurepip, and the `python` name the official image has.
add_debian_python() {
  local rootfs=$1
  chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null && rm -rf /var/lib/apt/lists/*'
  ln -sf python3 "$rootfs/usr/bin/python"
}

make_stand_in() {
  local name=$1 work rootfs ctr
  echo "$name cannot be pulled: making a stand-in with debootstrap ($MIRROR)"
  work=$(mktemp -d)
  rootfs="$work/rootfs"
  make_debian_slim_rootfs "$rootfs"
  case "$name" in
    docker.io/library/debian:bookworm-slim) ;;
    docker.io/library/python:3.11-slim-bookworm)
      cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
      add_debian_python "$rootfs"
      rm -f "$rootfs/etc/resolv.conf" ;;
    *) echo "no stand-in is known for $name: make it reachable, or pull it by hand" >&2; exit 1 ;;
  esac
  tar -C "$rootfs" --numeric-owner -cf "$work/rootfs.tar" .
  ctr=$(buildah_ from scratch)
  buildah_ add "$ctr" "$work/rootfs.tar" / >/dev/null
  buildah_ config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd /bin/bash --label screenshotd.stand-in=debootstrap "$ctr"
  buildah_ commit --quiet --rm "$ctr" "$name" >/dev/null
  rm -rf "$work"
  echo "made $name"
}

cmd_base() {
  local name
  name=$(base_name)
  have_image "$name" && { echo "base image $name: present"; return 0; }
  if buildah_ pull --quiet "$name" >/dev/null 2>&1; then
    echo "pulled $name"
  else
    make_stand_in "$name"
  fi
}

cmd_build() {
  local tag=${1:-screenshotd:test} args=() cert conf
  cmd_base
  # Reach PyPI the way this machine does: its CA bundle, and a pip config naming it, go to the
  # Dockerfile's pip step as build secrets, which are never written into a layer.
  cert="${PIP_CERT:-}"
  [ -n "$cert" ] || cert=$(python3 -m pip config get global.cert 2>/dev/null || true)
  if [ -n "$cert" ] && [ -f "$cert" ]; then
    conf=$(mktemp)
    printf '[global]\ncert = /run/secrets/pip-ca.crt\n' >"$conf"
    args+=(--secret "id=pip.conf,src=$conf" --secret "id=pip-ca,src=$cert")
  fi
  [ -n "${BASE_IMAGE:-}" ] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
  buildah_ bud --isolation chroot --pull-never --format docker --layers \
    "${args[@]}" -t "$tag" .
  [ -n "${conf:-}" ] && rm -f "$conf"
  # The image this tag named before, and its layers, are now dangling (untagged, no child):
  # remove them, or every build of changed sources leaves 1.2 GB behind. The new image's own
  # layers are its parents, not dangling, so the layer cache of this build stays.
  buildah_ rmi --prune >/dev/null || true
  buildah_ images "$tag"
}

case "${1:-}" in
  tools) cmd_tools ;;
  base) cmd_tools; cmd_base ;;
  build) shift; cmd_tools; cmd_build "$@" ;;
  *) echo "usage: scripts/image.sh tools|base|build [TAG]" >&2; exit 2 ;;
esac
