#!/usr/bin/env bash
# Makes the base images the Dockerfiles name (debian:bookworm, debian:bookworm-slim) where the
# container engine cannot pull them (no registry reachable): a Debian bookworm root made with
# debootstrap from the apt mirror this machine uses, imported under the names the Dockerfiles
# use. Images that are already there, or that the engine can pull, are left alone: idempotent.
#
#   tools/deploy/container_base.sh [--engine=podman|docker] [--force]
#
# bookworm:      debootstrap --variant=minbase (what the official image is built from) with the
#                official image's apt sources (bookworm, bookworm-updates, bookworm-security).
# bookworm-slim: the same root with what the official slim image leaves out: documentation,
#                man and info pages, and locales other than C (a dpkg path-exclude file, as the
#                official one, keeps later packages from bringing them back).
# --force rebuilds both from a fresh debootstrap. Needs root, debootstrap and an engine.
set -euo pipefail
ENGINE=""; FORCE=0
for arg in "$@"; do
  case "$arg" in
    --engine=*) ENGINE="${arg#*=}" ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "container_base: unknown argument $arg" >&2; exit 2 ;;
  esac
done
if [ -z "$ENGINE" ]; then
  if command -v podman >/dev/null; then ENGINE=podman; elif command -v docker >/dev/null; then ENGINE=docker; fi
fi
command -v "$ENGINE" >/dev/null 2>&1 || { echo "container_base: no container engine (podman or docker)" >&2; exit 3; }

have_image() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }
try_pull() { timeout 60 "$ENGINE" pull -q "$1" >/dev/null 2>&1; }

# The apt mirror this machine uses (deb822 or one-line sources), else deb.debian.org.
mirror() {
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$uri" ] || uri=$(grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}
security_mirror() {
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep security | head -1 || true)
  echo "${uri:-http://deb.debian.org/debian-security}"
}

WORK=""
cleanup() { if [ -n "$WORK" ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT

rootfs() {  # debootstrap once per run, into $WORK/rootfs
  [ -n "$WORK" ] && return 0
  command -v debootstrap >/dev/null || { echo "container_base: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 3; }
  WORK=$(mktemp -d /var/tmp/i2s-container-base.XXXXXX)
  local m; m=$(mirror)
  echo "container_base: debootstrap --variant=minbase bookworm from $m (about a minute)"
  local t0=$SECONDS
  debootstrap --variant=minbase bookworm "$WORK/rootfs" "$m" >"$WORK/debootstrap.log" 2>&1 || {
    tail -20 "$WORK/debootstrap.log" >&2; echo "container_base: debootstrap failed" >&2; exit 1; }
  echo "container_base: root made in $((SECONDS - t0)) s"
  # The official image's apt sources and clean-up.
  rm -f "$WORK/rootfs/etc/apt/sources.list"
  cat >"$WORK/rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $m
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $(security_mirror)
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  rm -rf "$WORK/rootfs/var/lib/apt/lists/"* "$WORK/rootfs/var/cache/apt/"*.bin \
         "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/log/"*.log
}

import() {  # DIR TAG
  echo "container_base: importing $2"
  tar --numeric-owner -C "$1" -c . | "$ENGINE" import \
    --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$2" >/dev/null
  echo "container_base: $2 $("$ENGINE" image inspect --format '{{.Size}}' "$2" | awk '{printf "%.0f MB", $1/1e6}')"
}

for tag in bookworm bookworm-slim; do
  name="docker.io/library/debian:$tag"
  if [ "$FORCE" = 0 ] && have_image "$name"; then echo "container_base: $name is there"; continue; fi
  if [ "$FORCE" = 0 ] && try_pull "$name"; then echo "container_base: pulled $name"; continue; fi
  rootfs
  if [ "$tag" = bookworm ]; then
    import "$WORK/rootfs" "$name"
  else
    slim="$WORK/slim"
    cp -a "$WORK/rootfs" "$slim"
    # What the official slim image excludes (debuerreotype's slimify list).
    cat >"$slim/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
DPKG
    find "$slim/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$slim/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$slim/usr/share/groff/"* "$slim/usr/share/info/"* "$slim/usr/share/linda/"* \
           "$slim/usr/share/lintian/overrides/"* "$slim/usr/share/locale/"* "$slim/usr/share/man/"*
    import "$slim" "$name"
  fi
done
