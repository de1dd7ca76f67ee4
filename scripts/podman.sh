#!/usr/bin/env bash
# podman with the settings that work on the project's test machines (Debian podman 4.3 as
# root, hybrid cgroup v1 layout, no systemd, no registry):
#   - storage, run state and temp files under one folder, $OCRBATCH_PODMAN_DIR
#     (default: build/podman in the repository), so the images `make images` builds are the
#     ones the end-to-end runner starts, and `rm -rf build/podman` forgets them all;
#   - overlay storage, cgroupfs (no systemd), events to a file, runc (crun refuses the
#     hybrid cgroup layout).
# Subcommands that start processes (build, create, run) also need
# `--ulimit nofile=4096:4096 --ulimit nproc=4096:4096` here (the sandbox refuses to raise
# limits): this wrapper does not add them, since `podman start` or `podman save` reject them.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${OCRBATCH_PODMAN_DIR:-$repo/build/podman}"
mkdir -p "$dir/root" "$dir/run" "$dir/tmp"
exec podman \
  --root "$dir/root" --runroot "$dir/run" --tmpdir "$dir/tmp" \
  --storage-driver overlay --cgroup-manager=cgroupfs --events-backend=file --runtime runc \
  "$@"
