"""The CPU-testable parts of the GPU benchmark kit (benchmarks/gpu): the payload's trimming list and
chunking, the pin it shares with pyproject's `cuda` extra, the random-model builder, the summary ratios."""

from __future__ import annotations

import importlib.util
import json
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KIT = REPO / "benchmarks" / "gpu"


def _load(name: str):
    if str(KIT) not in sys.path:
        sys.path.insert(0, str(KIT))
    spec = importlib.util.spec_from_file_location(f"gpu_kit_{name}", KIT / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


payload = _load("payload")


def _touch(root: Path, rel: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x")


def _fake_wheel(root: Path) -> None:
    for rel in payload.VLLM_KEEP:
        _touch(root, rel)
    for rel in ["vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so", "vllm/_moe_C_stable_libtorch.abi3.so", "vllm/vllm-rs",
                "vllm/benchmarks/serve.py", "vllm/benchmarks/lib/utils.py",
                "vllm/entrypoints/serve/instrumentator/static/swagger-ui.css",
                "vllm/third_party/deep_gemm/include/cute/arch/mma_sm90.hpp", "vllm/third_party/fmha_sm100/x.py",
                "vllm/third_party/deep_gemm/_C.cpython-310-x86_64-linux-gnu.so",
                "vllm/third_party/deep_gemm/_C.cpython-314-x86_64-linux-gnu.so",
                # kept: what a dense Qwen3 on Python 3.12 may import
                "vllm/third_party/deep_gemm/_C.cpython-312-x86_64-linux-gnu.so",
                "vllm/third_party/deep_gemm/__init__.py", "vllm/entrypoints/llm.py",
                "vllm/vllm_flash_attn/flash_attn_interface.py", "vllm-0.26.0.dist-info/METADATA"]:
        _touch(root, rel)


def test_trim_drops_the_listed_parts_and_keeps_what_vllm_imports(tmp_path):
    _fake_wheel(tmp_path)
    removed = set(payload.trim(tmp_path))
    assert removed == {
        "vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so", "vllm/_moe_C_stable_libtorch.abi3.so", "vllm/vllm-rs",
        "vllm/benchmarks", "vllm/entrypoints/serve/instrumentator/static", "vllm/third_party/deep_gemm/include",
        "vllm/third_party/fmha_sm100", "vllm/third_party/deep_gemm/_C.cpython-310-x86_64-linux-gnu.so",
        "vllm/third_party/deep_gemm/_C.cpython-314-x86_64-linux-gnu.so"}
    for rel in ["vllm/third_party/pynvml.py", "vllm/third_party/deep_gemm/_C.cpython-312-x86_64-linux-gnu.so",
                "vllm/third_party/deep_gemm/__init__.py", "vllm/entrypoints/llm.py",
                "vllm/vllm_flash_attn/_vllm_fa3_C.abi3.so", "vllm-0.26.0.dist-info/METADATA"]:
        assert (tmp_path / rel).is_file(), rel
    assert not (tmp_path / "vllm/benchmarks").exists()


def test_trim_refuses_a_pattern_that_would_drop_pynvml(tmp_path, monkeypatch):
    _fake_wheel(tmp_path)
    monkeypatch.setitem(payload.VLLM_DROP, "vllm/third_party/*", "too broad")
    with pytest.raises(ValueError, match="pynvml"):
        payload.trim(tmp_path)
    assert (tmp_path / "vllm/third_party/pynvml.py").is_file()


def test_trim_fails_when_a_kept_file_is_missing(tmp_path):
    _fake_wheel(tmp_path)
    (tmp_path / "vllm/third_party/pynvml.py").unlink()
    with pytest.raises(FileNotFoundError, match="pynvml"):
        payload.trim(tmp_path)


def test_deps_are_pinned_once_each(monkeypatch):
    deps = payload.all_deps()
    assert all("==" in d for d in deps)
    names = [d.split("==")[0].lower().replace("_", "-") for d in deps]
    assert len(names) == len(set(names))
    assert "apache-tvm-ffi==0.1.11" in deps and "xgrammar==0.2.9" in deps  # xgrammar 0.2.9 needs tvm-ffi >= 0.1.11
    monkeypatch.setitem(payload.DEPS, "extra", ["pydantic==2.0.0"])
    with pytest.raises(ValueError, match="two versions of pydantic"):
        payload.all_deps()


def test_plan_chunks_respects_the_limit_and_covers_every_byte():
    sizes = {"site.tar.xz": 7, "tok.tar.xz": 2, "vllm.tar.xz": 25}
    plan = payload.plan_chunks(sizes, ["site.tar.xz", "tok.tar.xz"], 10)
    assert [name for name, _, _ in plan[0][:2]] == ["site.tar.xz", "tok.tar.xz"]
    assert all(sum(n for _, _, n in chunk) <= 10 for chunk in plan)
    assert len(plan) == 4  # 34 bytes in chunks of 10
    pieces = sorted((off, n) for chunk in plan for name, off, n in chunk if name == "vllm.tar.xz")
    pos = 0
    for off, n in pieces:
        assert off == pos
        pos += n
    assert pos == 25
    with pytest.raises(ValueError):
        payload.plan_chunks({"site.tar.xz": 11, "v": 1}, ["site.tar.xz"], 10)


def test_cuda_extra_pins_the_vllm_and_torch_the_payload_carries():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert sorted(extras["cuda"]) == sorted([f"vllm=={payload.VLLM_VERSION}", f"torch=={payload.TORCH_VERSION}"])
    readme = (REPO / "README.md").read_text()
    assert f"vLLM {payload.VLLM_VERSION}" in readme and f"torch {payload.TORCH_VERSION}" in readme


model = _load("model")


def test_named_architectures_have_the_published_sizes():
    import torch
    from transformers import AutoModelForCausalLM

    expected = {"qwen3-0.6b": (0.60, 0.44), "qwen3-1.7b": (1.72, 1.41), "qwen3-4b": (4.02, 3.63)}
    assert set(model.ARCHITECTURES) == set(expected)
    for arch, (total, non_embedding) in expected.items():
        with torch.device("meta"):
            m = AutoModelForCausalLM.from_config(model.model_config(arch))
        n = sum(p.numel() for p in m.parameters())
        assert round(n / 1e9, 2) == total, arch
        assert round((n - m.get_input_embeddings().weight.numel()) / 1e9, 2) == non_embedding, arch
        assert m.config.vocab_size == 151936 and m.config.tie_word_embeddings


def test_model_builder_makes_a_loadable_model_with_an_exact_vocabulary(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    texts = model.training_texts()[:2]  # too little text for 700 ids: the rest are padding entries
    tok_dir = model.build_tokenizer(tmp_path / "tok", vocab_size=700, texts=texts)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    assert len(tok) == 700
    assert tok.convert_tokens_to_ids(list(model.SPECIALS)) == [0, 1, 2]
    assert tok.decode([699]) == "<x699>"  # padding entries decode
    chat = tok.apply_chat_template([{"role": "user", "content": "1+1?"}], tokenize=False, add_generation_prompt=True)
    assert chat == "<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n"
    tiny = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, head_dim=16, vocab_size=700)
    info = model.build_model("qwen3-1.7b", tok_dir, tmp_path / "m", **tiny)
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 2 and cfg["vocab_size"] == 700
    assert cfg["max_position_embeddings"] == 40960 and cfg["tie_word_embeddings"] is True
    assert cfg["eos_token_id"] == 2
    m = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    assert m.dtype == torch.bfloat16
    assert info["parameters"] == sum(p.numel() for p in m.parameters())
    ids = tok("The answer is 7.", return_tensors="pt")["input_ids"]
    assert m(ids).logits.shape == (1, ids.shape[1], 700)
    with pytest.raises(SystemExit, match="needs 151936"):
        model.build_model("qwen3-1.7b", tok_dir, tmp_path / "m2")


threeway = _load("threeway")


def test_summary_ratios_are_against_bare_of_the_same_workload():
    def ph(system, mt, gen, phase, ok=True):
        return {"system": system, "max_tokens": mt, "problems": 1, "k": 32, "gen_s": gen, "phase_s": phase, "ok": ok}

    report = {"engine_start_s": 10.0, "import_s": {"bare": 5.0, "rarft-eval": 7.0, "lm-eval": 9.0},
              "phases": [ph("bare", 1024, 50.0, 52.0), ph("rarft-eval", 1024, 49.0, 55.0), ph("lm-eval", 1024, 60.0, 90.0),
                         ph("bare", 8192, 100.0, 100.0), ph("rarft-eval", 8192, 103.0, 106.0)]}
    threeway.summarize(report)
    by = {(p["system"], p["max_tokens"]): p for p in report["phases"]}
    assert by[("rarft-eval", 1024)]["ratio_gen_vs_bare"] == 0.98
    assert by[("rarft-eval", 1024)]["e2e_s"] == 72.0 and by[("bare", 1024)]["e2e_s"] == 67.0
    assert by[("lm-eval", 1024)]["ratio_e2e_vs_bare"] == round(109.0 / 67.0, 3)
    assert by[("rarft-eval", 8192)]["ratio_gen_vs_bare"] == 1.03
    assert "| 8192 | 1 x 32 | rarft-eval |" in report["table"]


def test_workload_syntax():
    assert threeway.parse_workload("8192:aime25:1") == {"max_tokens": 8192, "task": "aime25", "problems": 1}
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        threeway.parse_workload("8192:aime25")
