#!/usr/bin/env bash
# The GPU side of the kit, run from the repository root on a GPU machine without internet.
#
#   bash benchmarks/gpu/device.sh stage DIR      # copy one payload chunk (payload.py's chunk-N) to $GPU_WORK/asm
#   bash benchmarks/gpu/device.sh setup          # check sums, unpack what has arrived, build the models
#   bash benchmarks/gpu/device.sh bench [ARGS]   # threeway.py (bare vLLM / rarft-eval run / lm-eval --model vllm)
#   bash benchmarks/gpu/device.sh grpo [ARGS]    # grpo.py (rarft-train grpo: TRL vLLM colocate vs HF generation)
#   bash benchmarks/gpu/device.sh env            # print the exports the others use (source it for a shell)
#
# Several verbs can follow each other in one call: `device.sh stage DIR setup bench ARGS...` runs in order;
# `bench` and `grpo` take the rest of the line. Files live under $GPU_WORK (default /tmp/gpu), which survives
# between the calls of one machine lease (outside the repository copy). Results go to $OUT when it is set
# (the lent machine's return folder), else to $GPU_WORK/out.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=${GPU_WORK:-/tmp/gpu}
RES=${OUT:-$W/out}
mkdir -p "$W/asm" "$RES"
PY=${PYTHON:-python3}

# NVLink multicast off (shared hosts), offline, no telemetry; FlashInfer is not carried, and the V2 model
# runner's sampler needs it unless told not to (our sampling uses no top-k/top-p cut, so it would not sample).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONPATH="$ROOT:$W/site${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 PYTHONUNBUFFERED=1 VLLM_USE_FLASHINFER_SAMPLER=0 TOKENIZERS_PARALLELISM=false
export RARFT_EVAL_CACHE=${RARFT_EVAL_CACHE:-$W/cache}

log() { echo "[device $(date +%H:%M:%S)] $*"; }

stage() {
  local t0=$SECONDS
  cp -r "$1"/. "$W/asm/" || return 2
  log "staged $1 -> $W/asm in $((SECONDS - t0)) s: $(ls "$W/asm" | tr '\n' ' ')"
}

# Reassemble every file of MANIFEST.json whose pieces have all arrived, check it, unpack it once.
setup() {
  local t0=$SECONDS
  [ -f "$W/asm/MANIFEST.json" ] || { log "no MANIFEST.json in $W/asm: stage a chunk first"; return 2; }
  "$PY" - "$W" <<'EOF' || return 3
import hashlib, json, sys
from pathlib import Path
w = Path(sys.argv[1]); asm = w / "asm"
m = json.loads((asm / "MANIFEST.json").read_text())
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()
for name, meta in m["files"].items():
    out = w / name
    if out.is_file() and sha(out) == meta["sha256"]:
        continue
    pieces = sorted((p for p in m["pieces"] if p["file"] == name), key=lambda p: p["offset"])
    if not all((asm / p["piece"]).is_file() for p in pieces):
        print(f"setup: {name}: {sum((asm / p['piece']).is_file() for p in pieces)}/{len(pieces)} pieces here")
        continue
    for p in pieces:
        if sha(asm / p["piece"]) != p["sha256"]:
            sys.exit(f"setup: CHECKSUM FAIL {p['piece']}")
    with open(out, "wb") as f:
        for p in pieces:
            f.write((asm / p["piece"]).read_bytes())
    if sha(out) != meta["sha256"]:
        sys.exit(f"setup: CHECKSUM FAIL {name}")
    print(f"setup: {name} assembled and checked ({meta['bytes']} bytes)")
EOF
  mkdir -p "$W/site"
  for f in site tok vllm; do
    if [ -f "$W/$f.tar.xz" ] && [ ! -f "$W/.unpacked-$f" ]; then
      case $f in tok) tar -xJf "$W/$f.tar.xz" -C "$W" ;; *) xz -d -T0 -c "$W/$f.tar.xz" | tar -x -C "$W/site" ;; esac \
        && touch "$W/.unpacked-$f" && log "unpacked $f"
    fi
  done
  "$PY" - <<'EOF'
import importlib.util, importlib.metadata as md
names = ["torch", "transformers", "tokenizers", "pyarrow", "fsspec", "huggingface_hub", "accelerate", "datasets",
         "trl", "lm_eval", "vllm", "pydantic", "numpy", "triton"]
print("versions:", {n: (md.version(n) if importlib.util.find_spec(n.replace("-", "_")) else None) for n in names})
EOF
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader
  log "setup done in $((SECONDS - t0)) s"
}

model() {  # model ARCH: build the random-weight model once (needs the tokenizer unpacked)
  local arch=$1 dir="$W/models/$1"
  [ -f "$dir/config.json" ] && return 0
  "$PY" "$ROOT/benchmarks/gpu/model.py" model --arch "$arch" --tokenizer "$W/tok" --out "$dir" --device cuda
}

while [ $# -gt 0 ]; do
  verb=$1; shift
  case $verb in
    stage) stage "$1" || exit $?; shift ;;
    setup) setup || exit $? ;;
    model) model "$1" || exit $?; shift ;;
    env) echo "export PYTHONPATH=$PYTHONPATH RARFT_EVAL_CACHE=$RARFT_EVAL_CACHE VLLM_USE_FLASHINFER_SAMPLER=0 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 HF_HUB_OFFLINE=1" ;;
    bench)
      model qwen3-1.7b || exit 4
      "$PY" "$ROOT/benchmarks/gpu/threeway.py" --model "$W/models/qwen3-1.7b" --out "$W/threeway" "$@" 2>&1 | tee "$W/threeway.log"
      rc=${PIPESTATUS[0]}
      cp "$W/threeway/threeway.json" "$W/threeway/nvml.csv" "$RES/" 2>/dev/null
      tar -czf "$RES/threeway-files.tgz" -C "$W" threeway.log $(cd "$W" && ls -d threeway/mt*/rarft/run/*.json threeway/mt*/lm-eval 2>/dev/null)
      [ -f "$W/threeway/mt1024/rarft/run/samples.jsonl" ] && xz -1 -c "$W/threeway/mt1024/rarft/run/samples.jsonl" > "$RES/samples-1024.jsonl.xz"
      exit "$rc" ;;
    grpo)
      model qwen3-0.6b || exit 4
      "$PY" "$ROOT/benchmarks/gpu/grpo.py" --policy "$W/models/qwen3-0.6b" --out "$W/grpo" "$@" 2>&1 | tee "$W/grpo.log"
      rc=${PIPESTATUS[0]}
      cp "$W/grpo/grpo.json" "$RES/" 2>/dev/null
      tar -czf "$RES/grpo-files.tgz" -C "$W" grpo.log $(cd "$W" && ls grpo/log-* 2>/dev/null)
      exit "$rc" ;;
    *) echo "device.sh: unknown verb $verb (stage DIR | setup | model ARCH | bench ... | grpo ... | env)" >&2; exit 2 ;;
  esac
done
