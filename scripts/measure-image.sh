#!/usr/bin/env bash
# The worker image against the bare worker process, on the same folder of cards:
#
#   scripts/measure-image.sh CARDS [MEMORY]       (MEMORY: the container's --memory, default 512m)
#
# Runs `ocr-job run CARDS --threads 1` twice, one run after the other: as a bare process of
# $OCR_JOB (default: ocr-job on PATH) and as a container of ocrbatch-worker:<version> under
# the chart's conditions (uid 10001, read-only root, /tmp a tmpfs, --memory = --memory-swap,
# no network). Prints for each: the worker's own peak RSS (VmHWM, from its last log line),
# the peak of its anonymous memory (RssAnon, sampled every 0.5 s: the heap, without the
# file-backed pages of the libraries, whose resident share depends on how hot each copy of
# the files is in the page cache), the container cgroup's peak (RSS + page cache), the
# seconds from start to the first record and to the end, and the records written.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
podman="$repo/scripts/podman.sh"
cards="$(cd "${1:?usage: $0 CARDS [MEMORY]}" && pwd)"
memory="${2:-512m}"
ocr_job="${OCR_JOB:-ocr-job}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -n 1)"
image="ocrbatch-worker:$version"
work="$(mktemp -d "${TMPDIR:-/tmp}/ocrbatch-measure.XXXXXX")"
trap 'rm -rf "$work"' EXIT
inputs=$(find "$cards" -type f \( -name '*.jpg' -o -name '*.png' -o -name '*.jpeg' \) | wc -l)

# The highest RssAnon of process $1 until it ends, in MiB, into file $2.
sample_anon() {
  local peak=0 v
  while v=$(awk '/^RssAnon:/ { print int($2 / 1024) }' "/proc/$1/status" 2>/dev/null) && [[ -n $v ]]; do
    (( v > peak )) && peak=$v
    echo "$peak" > "$2"
    sleep 0.5
  done
}

report() {  # name start end out log anon-file [cgroup peak]
  local first peak records
  first=$(find "$4" -name '*.json' ! -name 'results*' -printf '%T@\n' | sort -n | head -n 1)
  records=$(find "$4" -name '*.json' ! -name 'results*' | wc -l)
  peak=$(sed -n 's/.*peak RSS \([0-9]* MiB\).*/\1/p' "$5" | tail -n 1)
  printf '%-10s peak RSS %-8s peak RssAnon %4s MiB  cgroup peak %-8s first record %5.1f s  end %6.1f s  records %d/%d\n' \
    "$1" "${peak:-?}" "$(cat "$6")" "${7:--}" "$(awk -v a="$2" -v b="$first" 'BEGIN { print b - a }')" \
    "$(awk -v a="$2" -v b="$3" 'BEGIN { print b - a }')" "$records" "$inputs"
}

mkdir -p "$work/bare" "$work/box" && chmod 0777 "$work/box"
start=$(date +%s.%N)
"$ocr_job" run "$cards" --output "$work/bare" --threads 1 > "$work/bare.log" 2>&1 &
bare=$!
sample_anon "$bare" "$work/bare.anon" &
wait "$bare"
end=$(date +%s.%N)
wait
report bare "$start" "$end" "$work/bare" "$work/bare.log" "$work/bare.anon"

# The cgroup's peak: the container's cgroup is gone once it exits, so it is read while it
# runs (memory.max_usage_in_bytes is itself a high-water mark; its last reading counts).
start=$(date +%s.%N)
id=$("$podman" run -d --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --network none \
  --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,mode=1777 --security-opt no-new-privileges \
  --cap-drop all --memory "$memory" --memory-swap "$memory" \
  -v "$cards:/cards:ro" -v "$work/box:/out" "$image" run /cards --output /out --threads 1)
sample_anon "$("$podman" inspect --format '{{.State.Pid}}' "$id")" "$work/box.anon" &
cg_peak=0
while [[ $("$podman" inspect --format '{{.State.Running}}' "$id") == true ]]; do
  cg=$("$podman" inspect --format '{{.State.CgroupPath}}' "$id")
  v=$(cat "/sys/fs/cgroup/memory$cg/memory.max_usage_in_bytes" 2>/dev/null || echo 0)
  (( v > cg_peak )) && cg_peak=$v
  sleep 1
done
end=$(date +%s.%N)
wait
"$podman" logs "$id" > "$work/box.log" 2>&1
oom=$("$podman" inspect --format '{{.State.OOMKilled}} exit {{.State.ExitCode}}' "$id")
"$podman" rm "$id" >/dev/null
report "container" "$start" "$end" "$work/box" "$work/box.log" "$work/box.anon" "$((cg_peak >> 20)) MiB"
echo "container --memory $memory: OOMKilled $oom"
