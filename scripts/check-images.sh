#!/usr/bin/env bash
# Check the images scripts/build-images.sh built, as Kubernetes will run them (the chart's
# securityContext: uid 10001, read-only root, an emptyDir at /tmp, no privilege escalation):
#
#   scripts/check-images.sh [TARGET...]     (default: operator worker worker-paddle)
#
# Every image: runs as 10001:10001; the root filesystem is read-only and HOME=/tmp is
# writable; its entrypoint's --help runs.
# Workers: with networking disabled, OCR one synthetic card (drawn on the host by the
# project's generator, $PYTHON -m ocr_job.cli samples) with the models inside the image and
# report the right ID number; prints the time from `podman run` to the first record.
# Operator: carries no OCR runtime (onnxruntime, paddle, cv2, rapidocr, onnxocr).
# Exits non-zero at the first failed check.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
podman="$repo/scripts/podman.sh"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -n 1)"
python="${PYTHON:-python3}"
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(operator worker worker-paddle)

# As the chart runs them: read-only root with a writable /tmp only (no tmpfs podman adds
# elsewhere by default), no new privileges, no capabilities.
run=(run --rm --ulimit nofile=4096:4096 --ulimit nproc=4096:4096
     --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,mode=1777
     --security-opt no-new-privileges --cap-drop all)

work="$(mktemp -d "${TMPDIR:-/tmp}/ocrbatch-image-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL $*" >&2; exit 1; }
ok() { echo "ok   $*"; }

check_common() {
  local image=$1 entry=$2 user got
  user=$("$podman" image inspect --format '{{.Config.User}}' "$image")
  [[ $user == 10001:10001 ]] || fail "$image: USER is '$user', not 10001:10001"
  got=$("$podman" "${run[@]}" --entrypoint sh "$image" -c 'echo "$(id -u):$(id -g) $HOME"')
  [[ $got == "10001:10001 /tmp" ]] || fail "$image: runs as/with '$got', not '10001:10001 /tmp'"
  ok "$image: runs as 10001:10001 with HOME=/tmp"
  got=$("$podman" "${run[@]}" --entrypoint sh "$image" -c \
    'touch /opt/venv/probe 2>/dev/null && echo root-writable; touch "$HOME/probe" && echo home-writable')
  [[ $got == home-writable ]] || fail "$image: read-only root with HOME=/tmp gave '$got'"
  ok "$image: root is read-only, HOME=/tmp is writable"
  "$podman" "${run[@]}" --network none "$image" --help > "$work/help.txt" \
    || fail "$image: $entry --help failed"
  grep -q "usage: $entry" "$work/help.txt" || fail "$image: $entry --help printed no usage"
  ok "$image: $entry --help"
}

check_no_ocr_runtime() {
  local image=$1
  "$podman" "${run[@]}" --network none --entrypoint python "$image" -c '
import importlib.util, sys
found = [m for m in ("onnxruntime", "paddle", "cv2", "rapidocr", "rapidocr_paddle", "paddleocr", "onnxocr")
         if importlib.util.find_spec(m)]
sys.exit(f"OCR runtime inside: {found}" if found else 0)' || fail "$image carries an OCR runtime"
  ok "$image: no OCR runtime (onnxruntime, paddle, cv2, rapidocr, onnxocr)"
}

check_models_offline() {
  local image=$1 engine=$2 out="$work/out-$2" start first
  mkdir -p "$out" && chmod 0777 "$out"
  start=$(date +%s.%N)
  "$podman" "${run[@]}" --network none -v "$work/cards:/cards:ro" -v "$out:/out" "$image" \
    run /cards --output /out --engine "$engine" > "$work/run-$engine.log" 2>&1 \
    || { tail -n 20 "$work/run-$engine.log" >&2; fail "$image: ocr-job run --engine $engine failed"; }
  ! grep -q "could not be built" "$work/run-$engine.log" \
    || fail "$image: a built model (the int8 detector, the optimised second recogniser) is not inside the image (its worker tried to build it)"
  "$python" - "$work/cards/labels.jsonl" "$out" <<'PY' || fail "$image: wrong or missing record"
import json, pathlib, sys
labels = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
for label in labels:
    record = json.loads((pathlib.Path(sys.argv[2]) / (label["source"] + ".json")).read_text("utf-8"))
    if record["status"] != "ok" or record["fields"]["id_number"] != label["fields"]["id_number"]:
        sys.exit(f"{label['source']}: status {record['status']}, ID number right: "
                 f"{record['fields'].get('id_number') == label['fields']['id_number']}")
PY
  first=$(find "$out" -name '*.json' -printf '%T@\n' | sort -n | head -n 1)
  ok "$image: --network none, engine $engine: the models inside read the card's ID number right;" \
     "first record $(awk -v a="$start" -v b="$first" 'BEGIN { printf "%.1f", b - a }') s after podman run"
}

for target in "${targets[@]}"; do
  image="ocrbatch-$target:$version"
  "$podman" image exists "$image" || fail "$image is not built (scripts/build-images.sh $target)"
  case $target in
    operator)
      check_common "$image" ocr-operator
      check_no_ocr_runtime "$image" ;;
    worker|worker-paddle)
      if [[ ! -f $work/cards/labels.jsonl ]]; then
        "$python" -m ocr_job.cli samples "$work/cards" --count 1 --seed 1 --levels clean >/dev/null 2>&1 \
          || fail "cannot draw a sample card with $python -m ocr_job.cli (make install system-deps)"
        chmod -R a+rX "$work/cards"
      fi
      check_common "$image" ocr-job
      check_models_offline "$image" onnx
      [[ $target == worker ]] || check_models_offline "$image" paddle ;;
    *) fail "unknown target $target" ;;
  esac
done
echo "all image checks passed: ${targets[*]}"
