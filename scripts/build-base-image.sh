#!/usr/bin/env bash
# A local Debian bookworm base image with Python 3.11, for building the Dockerfile where no
# container registry is reachable (the Dockerfile's default base, python:3.11-slim-bookworm,
# comes from a registry). Debian bookworm's python3 is 3.11, which meets requires-python.
#
#   scripts/build-base-image.sh [IMAGE]      (default IMAGE: localhost/ocrbatch-base:bookworm)
#
# debootstrap --variant=minbase bookworm (from the mirror this machine's apt uses, or
# $DEBIAN_MIRROR), plus python3, venv, pip, ca-certificates and `python` -> python3 (the
# Dockerfile runs `python -m venv`); apt's lists and caches are removed; the tree is
# imported with `podman import` (scripts/podman.sh). Needs root. Skips when the image exists
# (FORCE=1 rebuilds).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
podman="$here/podman.sh"
image="${1:-localhost/ocrbatch-base:bookworm}"
suite=bookworm
packages=python3,python3-venv,python3-pip,python-is-python3,ca-certificates

if [[ "${FORCE:-0}" != 1 ]] && "$podman" image exists "$image"; then
  echo "base image $image exists (FORCE=1 rebuilds)"
  exit 0
fi
[[ $(id -u) == 0 ]] || { echo "debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debootstrap is not installed" >&2; exit 1; }

# The first Debian archive URI apt is configured with (deb822 or one-line format).
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    awk '
      /^URIs:/ && $2 !~ /security/ { print $2; exit }
      /^deb / { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) { print $i; exit } break } }
    ' "$f"
  done | head -n 1
}
mirror="${DEBIAN_MIRROR:-$(apt_mirror)}"

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/ocrbatch-rootfs.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap $suite (minbase + $packages)${mirror:+ from $mirror}"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" ${mirror:+"$mirror"} >/dev/null
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
       "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/*
version="$(chroot "$rootfs" python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
tar --numeric-owner -C "$rootfs" -c . | "$podman" import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --message "debootstrap --variant=minbase $suite + $packages (python $version)" \
  - "$image" >/dev/null
echo "base image $image: Debian $suite, python $version"
