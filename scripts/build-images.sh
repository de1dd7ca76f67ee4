#!/usr/bin/env bash
# Build the three images of the Dockerfile with podman and save each as a docker-archive
# (`docker load -i` and `podman load -i` both read it):
#
#   scripts/build-images.sh [TARGET...]     (default: operator worker worker-paddle)
#
# BASE_IMAGE: the Dockerfile's base. Unset, a local Debian bookworm base is made with
# debootstrap (scripts/build-base-image.sh): these machines reach no container registry.
# With a registry: BASE_IMAGE=python:3.11.14-slim-bookworm scripts/build-images.sh
# OUT: where the archives go (default build/images/<image>.tar).
#
# Each image is tagged ocrbatch-<target>:<version> (podman: localhost/…) and saved as
# ocrbatch-<target>:<version> (docker.io/library/…), the chart's default repositories.
# Layers are cached in podman's store (scripts/podman.sh): a second run rebuilds only what
# changed (a code change: the `app` stage and its 2 MB layer; the dependency venvs are built
# from requirements/ alone). Buildah keys a COPY by the files' contents and mtimes, so a fresh
# clone builds everything once. RUN steps use the host network, and the host's CA bundle where it has one
# (TLS may be intercepted by a local CA).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
podman="$repo/scripts/podman.sh"
out="${OUT:-$repo/build/images}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -n 1)"
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(operator worker worker-paddle)

base="${BASE_IMAGE:-}"
if [[ -z $base ]]; then
  base=localhost/ocrbatch-base:bookworm
  "$repo/scripts/build-base-image.sh" "$base"
fi

build_flags=(
  --ulimit nofile=4096:4096 --ulimit nproc=4096:4096
  --network host --layers
  --build-arg "BASE_IMAGE=$base"
  --file "$repo/Dockerfile"
)
ca=/etc/ssl/certs/ca-certificates.crt
[[ -f $ca ]] && build_flags+=(--volume "$ca:$ca:ro")

mkdir -p "$out"
for target in "${targets[@]}"; do
  name="ocrbatch-$target"
  echo "== build $name:$version (target $target, base $base)"
  start=$SECONDS
  "$podman" build "${build_flags[@]}" --target "$target" --tag "$name:$version" "$repo" \
    > "$out/$name.build.log" 2>&1 || { tail -n 40 "$out/$name.build.log" >&2; exit 1; }
  "$podman" tag "$name:$version" "docker.io/library/$name:$version"
  rm -f "$out/$name.tar"
  "$podman" save --quiet --format docker-archive -o "$out/$name.tar" "docker.io/library/$name:$version"
  echo "   built and saved in $((SECONDS - start)) s: $out/$name.tar"
done

echo "== sizes (uncompressed: podman's image size; archive: the .tar; gzip: the .tar gzipped, ~ what a registry stores)"
printf '%-24s %14s %14s %14s\n' image uncompressed archive gzip
for target in "${targets[@]}"; do
  name="ocrbatch-$target"
  size=$("$podman" image inspect --format '{{.Size}}' "$name:$version")
  archive=$(stat -c %s "$out/$name.tar")
  gz=$(gzip -c "$out/$name.tar" | wc -c)
  printf '%-24s %10d MiB %10d MiB %10d MiB\n' "$name:$version" $((size >> 20)) $((archive >> 20)) $((gz >> 20))
done
