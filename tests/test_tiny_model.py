"""The tiny Qwen3 test model: deterministic, idempotent, atomic, and usable by transformers.

(vLLM loading is exercised by the harness's engine and end-to-end tests, not here.)
"""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from rarft_eval.testing import tiny_model as tm

MESSAGES = [
    {"role": "system", "content": "Reason step by step."},
    {"role": "user", "content": "What is $1+1$?"},
]
PROMPT = "<|im_start|>system\nReason step by step.<|im_end|>\n<|im_start|>user\nWhat is $1+1$?<|im_end|>\n"


def marker(path):
    return json.loads((path / tm.MARKER_FILE).read_text())


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path, tiny_model):
    again = tm.build_tiny_model(tmp_path / "again", seed=0)
    other = tm.build_tiny_model(tmp_path / "other", seed=1)
    assert marker(again)["weights_sha256"] == marker(tiny_model)["weights_sha256"]
    assert tm._sha256(again / tm.WEIGHTS_FILE) == marker(tiny_model)["weights_sha256"]
    assert (again / "tokenizer.json").read_bytes() == (tiny_model / "tokenizer.json").read_bytes()
    assert marker(other)["weights_sha256"] != marker(tiny_model)["weights_sha256"]
    assert marker(other)["tokenizer_sha256"] == marker(tiny_model)["tokenizer_sha256"]  # corpus only


def test_reuse_force_and_seed_change(tmp_path):
    out = tmp_path / "m"
    assert tm.build_tiny_model(out, seed=3) == out.absolute()
    weights = out / tm.WEIGHTS_FILE
    first = weights.stat().st_ino, weights.stat().st_mtime_ns
    tm.build_tiny_model(str(out), seed=3)  # complete: reused as is
    assert (weights.stat().st_ino, weights.stat().st_mtime_ns) == first
    sha = marker(out)["weights_sha256"]
    tm.build_tiny_model(out, seed=3, force=True)  # rebuilt, same bytes
    assert weights.stat().st_ino != first[0] and marker(out)["weights_sha256"] == sha
    tm.build_tiny_model(out, seed=4)  # another seed replaces it
    assert marker(out)["seed"] == 4 and marker(out)["weights_sha256"] != sha
    weights.write_bytes(b"corrupt")  # a damaged folder is rebuilt
    tm.build_tiny_model(out, seed=4)
    assert tm._sha256(weights) == marker(out)["weights_sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp folders left behind


def test_failed_build_leaves_nothing(tmp_path, monkeypatch):
    def crash(path, seed):
        (path / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(tm, "_build_into", crash)
    with pytest.raises(KeyboardInterrupt):
        tm.build_tiny_model(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        tm.build_tiny_model(tmp_path, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_saved_files_and_config(tiny_model, tiny_tokenizer):
    assert {p.name for p in tiny_model.iterdir()} == {*tm.REQUIRED_FILES, tm.MARKER_FILE}
    assert sum(p.stat().st_size for p in tiny_model.iterdir()) < 3_000_000
    config = AutoConfig.from_pretrained(tiny_model)
    assert config.model_type == "qwen3" and config.architectures == ["Qwen3ForCausalLM"]
    assert config.head_dim == 64 and config.tie_word_embeddings
    assert config.vocab_size % 64 == 0 and config.vocab_size >= len(tiny_tokenizer)
    assert 2000 <= len(tiny_tokenizer) <= 4096
    assert config.eos_token_id == tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert config.bos_token_id is None
    gen = json.loads((tiny_model / "generation_config.json").read_text())
    assert gen["eos_token_id"][0] == config.eos_token_id


def test_tokenizer(tiny_tokenizer):
    tok = tiny_tokenizer
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>" and tok.bos_token is None
    for special in ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"):
        assert len(tok.encode(special, add_special_tokens=False)) == 1, special
    text = "Let $x^2+3x-10=0$. Then \\boxed{\\frac{5}{2}} ≈ 2.5 — done."
    ids = tok.encode(text, add_special_tokens=False)
    assert tok.decode(ids) == text
    assert tok.convert_ids_to_tokens(tok.encode("12345", add_special_tokens=False)) == list("12345")
    # Like Qwen3: the chat markers are special (skipped), the think tags are not.
    decoded = tok.decode(tok.encode("<|im_start|><think>\nhm\n</think>\n\n42<|im_end|>"), skip_special_tokens=True)
    assert decoded == "<think>\nhm\n</think>\n\n42"


def test_chat_template(tiny_model, tiny_tokenizer):
    assert (tiny_model / "chat_template.jinja").read_text() == tm.CHAT_TEMPLATE
    render = lambda **kw: tiny_tokenizer.apply_chat_template(MESSAGES, tokenize=False, **kw)  # noqa: E731
    assert render() == PROMPT
    assert render(add_generation_prompt=True) == PROMPT + "<|im_start|>assistant\n"
    assert render(add_generation_prompt=True, enable_thinking=True) == PROMPT + "<|im_start|>assistant\n"
    assert (
        render(add_generation_prompt=True, enable_thinking=False)
        == PROMPT + "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    assert render(enable_thinking=False) == PROMPT  # no generation prompt, nothing appended


def test_hf_generate(tiny_model, tiny_tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    prompt = tiny_tokenizer.apply_chat_template(
        MESSAGES, tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    inputs = tiny_tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    n_prompt = inputs.input_ids.shape[1]

    def sample():
        torch.manual_seed(0)
        return model.generate(**inputs, do_sample=True, num_return_sequences=4, max_new_tokens=16)

    out = sample()
    assert out.shape[0] == 4 and n_prompt < out.shape[1] <= n_prompt + 16
    assert (out[:, :n_prompt] == inputs.input_ids).all()
    texts = tiny_tokenizer.batch_decode(out[:, n_prompt:], skip_special_tokens=True)
    assert len(texts) == 4 and all(isinstance(t, str) for t in texts)
    assert len(set(texts)) > 1  # sampled, not greedy
    assert torch.equal(sample(), out)  # reproducible under a fixed torch seed


def test_default_dir_ensure_and_cli(tmp_path, monkeypatch, capsys, tiny_model):
    monkeypatch.setenv("RARFT_EVAL_CACHE", str(tmp_path / "cache"))
    assert tm.default_tiny_model_dir() == tmp_path / "cache" / "models" / "tiny-qwen3-s0"
    monkeypatch.delenv("RARFT_EVAL_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tm.default_tiny_model_dir() == tmp_path / "home" / ".cache" / "rarft-eval" / "models" / "tiny-qwen3-s0"

    monkeypatch.setenv("RARFT_EVAL_CACHE", str(tmp_path / "cache"))
    built = tm.ensure_tiny_model()
    assert built == tm.default_tiny_model_dir() and marker(built)["seed"] == 0
    assert marker(built)["weights_sha256"] == marker(tiny_model)["weights_sha256"]

    tm.main([str(tmp_path / "cli"), "--seed", "2"])
    assert capsys.readouterr().out.strip() == str(tmp_path / "cli")
    assert marker(tmp_path / "cli")["seed"] == 2
