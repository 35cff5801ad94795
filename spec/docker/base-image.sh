#!/usr/bin/env bash
# Makes the `debian:12-slim` image the Dockerfile starts from, out of Debian's own packages,
# for machines that reach Debian's mirror but no image registry: debootstrap a minimal
# bookworm, strip what an image never uses (docs, man pages, locales, apt lists and caches),
# and `docker import` it. Does nothing when the image exists already.
#   spec/docker/base-image.sh [MIRROR]    (default: the mirror apt uses here, else deb.debian.org)
set -euo pipefail

IMAGE=debian:12-slim
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi

mirror="${1:-}"
if [ -z "$mirror" ]; then
  mirror=$(grep -rhoE '^URIs: *https?://[^ ]+/debian/?$' /etc/apt/sources.list.d/ 2>/dev/null | head -1 | sed 's/^URIs: *//' || true)
  [ -n "$mirror" ] || mirror=$(grep -hoE '^deb +https?://[^ ]+/debian/? +bookworm' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -1 || true)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
fi

rootfs=$(mktemp -d /tmp/dhis2sync-rootfs-XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap bookworm from $mirror" >&2
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
       "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
# as Docker's own debian images do: no docs, man pages or locales from later installs either
cat >"$rootfs"/etc/dpkg/dpkg.cfg.d/docker-slim <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
echo 'APT::Install-Recommends "false";' >"$rootfs"/etc/apt/apt.conf.d/docker-no-recommends
tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$IMAGE" >/dev/null
echo "made $IMAGE: $(docker image inspect -f '{{.Size}}' "$IMAGE") bytes" >&2
