"""Build, here, the payload that brings CUDA vLLM and the benchmark's other packages to a GPU machine
that has this repository, its image's torch, and no internet.

    python benchmarks/gpu/payload.py --out .dev/gpu [--chunk-mb 22]

It downloads the pinned wheels from PyPI (Python 3.12, manylinux x86-64), trims vLLM to what a dense
Qwen3 needs on a Hopper GPU (`VLLM_DROP`; `VLLM_KEEP` must survive), installs the other wheels into one
site tree, trains the benchmark tokenizer (`model.py tokenizer`), packs all of it with xz and splits it
into folders `chunk-1`, `chunk-2`, ... of at most `--chunk-mb` MB: a device call carries 64 MiB in all,
the repository included, so the payload travels over several back-to-back calls (`device.sh stage`),
and `device.sh setup` checks every piece against `SHA256SUMS` before unpacking.

The target image (the lent H200): Python 3.12, torch 2.11.0+cu130, transformers 5.17; vLLM 0.26.0 is the
newest release that pins `torch==2.11.0` (0.27 and later pin 2.13), so it is the one that runs there
without replacing torch, and the `cuda` extra of pyproject.toml pins the same pair.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

VLLM_VERSION = "0.26.0"
TORCH_VERSION = "2.11.0"  # what vLLM 0.26.0 pins, and the image's torch (2.11.0+cu130)
PYTHON_VERSION = "3.12"
PLATFORMS = ["manylinux_2_17", "manylinux2014", "manylinux_2_24", "manylinux_2_26", "manylinux_2_27",
             "manylinux_2_28", "manylinux_2_31", "manylinux_2_34", "manylinux_2_35", "manylinux_2_5", "manylinux1"]

# Paths inside the vLLM wheel (fnmatch patterns) that a dense bf16 Qwen3 on compute capability 9.0 never
# loads, with the reason. 266 MB of the 708 MB tree remain; xz -9 makes that about 70 MB.
VLLM_DROP: dict[str, str] = {
    "vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so": "FlashAttention-2 kernels: on compute capability 9.x vLLM uses FA3",
    "vllm/_moe_C_stable_libtorch.abi3.so": "mixture-of-experts kernels: a dense model has no experts",
    "vllm/vllm-rs": "the Rust frontend binary of `vllm serve`; the offline LLM class does not start it",
    "vllm/benchmarks": "vLLM's own benchmark scripts",
    "vllm/entrypoints/serve/instrumentator/static": "Swagger UI files of the HTTP server",
    "vllm/third_party/deep_gemm/include": "C++ headers for JIT-built FP8 GEMMs (DeepGEMM)",
    "vllm/third_party/fmha_sm100": "Blackwell (sm100) attention sources",
    "vllm/third_party/deep_gemm/_C.cpython-310-*": "DeepGEMM binding for another Python",
    "vllm/third_party/deep_gemm/_C.cpython-311-*": "DeepGEMM binding for another Python",
    "vllm/third_party/deep_gemm/_C.cpython-313-*": "DeepGEMM binding for another Python",
    "vllm/third_party/deep_gemm/_C.cpython-314-*": "DeepGEMM binding for another Python",
}
# Files the trimmed tree must still hold (the check that a new pattern did not cut too much).
VLLM_KEEP: dict[str, str] = {
    "vllm/third_party/pynvml.py": "CUDA platform detection imports it; without it every engine fails with "
                                  "'Device string must not be empty'",
    "vllm/_C_stable_libtorch.abi3.so": "vLLM's own CUDA ops",
    "vllm/vllm_flash_attn/_vllm_fa3_C.abi3.so": "FlashAttention-3, the attention backend on Hopper",
    "vllm/cumem_allocator.abi3.so": "the KV-cache allocator",
    "vllm/v1/worker/gpu/sample/gumbel.py": "the V2 model runner's seeded sampler",
}

# Wheels the image lacks, installed with --no-deps into one site tree (one version of each).
DEPS: dict[str, list[str]] = {
    # imported by vLLM's offline path at load time (found with the reference import-closure sweep);
    # llguidance and xgrammar are imported although no structured output is used (class annotations), and
    # xgrammar 0.2.9 needs apache-tvm-ffi >= 0.1.11 although vLLM 0.26.0 pins 0.1.10
    "vllm": ["pydantic==2.12.5", "pydantic-core==2.41.5", "annotated-types==0.8.0", "typing-inspection==0.4.5",
             "fastapi==0.136.3", "starlette==1.10.0", "openai==2.54.0", "jiter==0.19.0", "distro==1.9.0",
             "sniffio==1.3.1", "openai-harmony==0.0.8", "msgspec==0.23.0", "pyzmq==27.3.0", "cbor2==6.3.0",
             "pybase64==1.5.1", "cachetools==8.0.2", "blake3==1.0.11", "partial-json-parser==0.2.1.1.post7",
             "setproctitle==1.3.8", "depyf==0.20.0", "astor==0.8.1", "dill==0.4.1", "llguidance==1.7.6",
             "xgrammar==0.2.9", "apache-tvm-ffi==0.1.11"],
    # rarft-eval's own dependencies that the image lacks (bm25s: the GRPO retrieval arm's retriever)
    "harness": ["math-verify==0.9.0", "latex2sympy2_extended==1.11.0", "antlr4-python3-runtime==4.13.2",
                "bm25s==0.3.16"],
    # lm-evaluation-harness for `--model vllm` (the project's pinned version) and what its run imports
    "lm-eval": ["lm_eval==0.4.13", "datasets==5.2.0", "multiprocess==0.70.19", "more-itertools==11.2.1"],
    # the training side (pyproject's `train` extra; accelerate is in the image)
    "train": ["trl==1.16.0"],
}


def all_deps() -> list[str]:
    seen: dict[str, str] = {}
    for group in DEPS.values():
        for spec in group:
            name = spec.split("==")[0].lower().replace("_", "-")
            if name in seen and seen[name] != spec:
                raise ValueError(f"two versions of {name}: {seen[name]} and {spec}")
            seen[name] = spec
    return sorted(seen.values())


def trim(root: Path) -> list[str]:
    """Delete VLLM_DROP's matches under `root` (an unpacked wheel); return them. Refuses to drop a VLLM_KEEP
    file and fails when a kept file is missing afterwards."""
    removed: list[str] = []
    for path in sorted(root.rglob("*")):
        if not path.exists():  # inside a folder removed earlier
            continue
        rel = path.relative_to(root).as_posix()
        if any(fnmatch.fnmatchcase(rel, pat) for pat in VLLM_DROP):
            if any(keep == rel or keep.startswith(rel + "/") for keep in VLLM_KEEP):
                raise ValueError(f"a VLLM_DROP pattern matches the kept file {rel}")
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            removed.append(rel)
    missing = [k for k in VLLM_KEEP if not (root / k).exists()]
    if missing:
        raise FileNotFoundError(f"the trimmed vLLM tree lacks {', '.join(missing)}")
    return removed


def _pip_download(specs: list[str], dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           PYTHON_VERSION, "--implementation", "cp", "-d", str(dest)]
    for p in PLATFORMS:
        cmd += ["--platform", f"{p}_x86_64"]
    subprocess.run(cmd + specs, check=True)


def _xz_tar(src_dir: Path, names: list[str], out: Path) -> None:
    with open(out, "wb") as f:
        tar = subprocess.Popen(["tar", "-C", str(src_dir), "-cf", "-", *names], stdout=subprocess.PIPE)
        subprocess.run(["xz", "-9", f"-T{os.cpu_count() or 1}"], stdin=tar.stdout, stdout=f, check=True)
        if tar.wait() != 0:
            raise RuntimeError(f"tar of {src_dir} failed")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def plan_chunks(sizes: dict[str, int], first: list[str], limit: int) -> list[list[tuple[str, int, int]]]:
    """Lay files out in folders of at most `limit` bytes: the `first` files (small, needed before vLLM) open
    folder 1, then the others fill the folders in order, a file split across folders where it does not fit.
    Returns, per folder, (file, offset, length) pieces."""
    if any(sizes[f] > limit for f in first):
        raise ValueError("a file that must travel whole is larger than a chunk")
    chunks: list[list[tuple[str, int, int]]] = [[]]
    room = limit
    for name in first:
        chunks[0].append((name, 0, sizes[name]))
        room -= sizes[name]
    for name in [n for n in sizes if n not in first]:
        off = 0
        while off < sizes[name]:
            if room == 0:
                chunks.append([])
                room = limit
            n = min(room, sizes[name] - off)
            chunks[-1].append((name, off, n))
            off += n
            room -= n
    return chunks


def build(out: Path, work: Path, chunk_bytes: int) -> dict:
    t0 = time.time()
    whl = work / "whl"
    whl.mkdir(parents=True, exist_ok=True)
    packed = work / "packed"
    shutil.rmtree(packed, ignore_errors=True)
    packed.mkdir()
    # 1. wheels
    vllm_whl = sorted(whl.glob(f"vllm-{VLLM_VERSION}-*.whl"))
    if not vllm_whl:
        _pip_download([f"vllm=={VLLM_VERSION}"], whl)
        vllm_whl = sorted(whl.glob(f"vllm-{VLLM_VERSION}-*.whl"))
    deps_dir = work / "deps"
    shutil.rmtree(deps_dir, ignore_errors=True)
    deps_dir.mkdir()
    _pip_download(all_deps(), deps_dir)
    # 2. vLLM, trimmed
    tree = work / "vllm-tree"
    shutil.rmtree(tree, ignore_errors=True)
    with zipfile.ZipFile(vllm_whl[0]) as z:
        z.extractall(tree)
    for so in tree.rglob("*.so"):
        so.chmod(0o755)
    removed = trim(tree)
    _xz_tar(tree, sorted(p.name for p in tree.iterdir()), packed / "vllm.tar.xz")
    # 3. the other packages, installed into one site tree (solid xz packs it far smaller than the wheels)
    site = work / "site"
    shutil.rmtree(site, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--only-binary=:all:",
           "--python-version", PYTHON_VERSION, "--implementation", "cp", "--target", str(site)]
    for p in PLATFORMS:
        cmd += ["--platform", f"{p}_x86_64"]
    subprocess.run(cmd + [str(p) for p in sorted(deps_dir.glob("*.whl"))], check=True)
    _xz_tar(site, sorted(p.name for p in site.iterdir()), packed / "site.tar.xz")
    # 4. the tokenizer (Qwen3's vocabulary size)
    tok = work / "tok"
    if not (tok / "tokenizer.json").is_file():
        sys.path.insert(0, str(HERE))
        from model import build_tokenizer

        build_tokenizer(tok)
    with tarfile.open(packed / "tok.tar.xz", "w:xz") as t:
        t.add(tok, arcname="tok")
    # 5. chunks
    sizes = {p.name: p.stat().st_size for p in sorted(packed.iterdir())}
    plan = plan_chunks(sizes, ["site.tar.xz", "tok.tar.xz"], chunk_bytes)
    for old in out.glob("chunk-*"):
        shutil.rmtree(old)
    sums: dict[str, str] = {name: sha256(packed / name) for name in sizes}
    pieces: list[dict] = []
    for i, chunk in enumerate(plan, 1):
        d = out / f"chunk-{i}"
        d.mkdir(parents=True)
        for name, off, n in chunk:
            piece = f"{name}.{off:012d}"
            with open(packed / name, "rb") as src, open(d / piece, "wb") as dst:
                src.seek(off)
                dst.write(src.read(n))
            pieces.append({"chunk": i, "piece": piece, "file": name, "offset": off, "bytes": n,
                           "sha256": sha256(d / piece)})
    manifest = {"vllm": VLLM_VERSION, "torch": TORCH_VERSION, "python": PYTHON_VERSION,
                "vllm_wheel": vllm_whl[0].name, "vllm_removed": removed, "deps": all_deps(),
                "files": {n: {"bytes": sizes[n], "sha256": sums[n]} for n in sizes}, "pieces": pieces,
                "chunks": len(plan), "chunk_bytes": chunk_bytes, "built_s": round(time.time() - t0, 1)}
    for i in range(1, len(plan) + 1):
        (out / f"chunk-{i}" / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder for chunk-1, chunk-2, ...")
    p.add_argument("--work", type=Path, default=None, help="download and build folder (default: OUT/work)")
    p.add_argument("--chunk-mb", type=float, default=22.0, help="largest chunk in MB (default 22)")
    args = p.parse_args(argv)
    m = build(args.out, args.work or args.out / "work", int(args.chunk_mb * 1e6))
    for i in range(1, m["chunks"] + 1):
        n = sum(x["bytes"] for x in m["pieces"] if x["chunk"] == i)
        print(f"{args.out / f'chunk-{i}'}: {n / 1e6:.1f} MB")
    print(f"payload: {sum(f['bytes'] for f in m['files'].values()) / 1e6:.1f} MB in {m['chunks']} chunks, "
          f"built in {m['built_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
