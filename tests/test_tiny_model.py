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


# ---------------------------------------------------------------- the hf engine (batched, seeded per sample)


@pytest.fixture(scope="module")
def hf_engine(tiny_model):
    from rarft_eval.engines.hf_engine import HFEngine

    return HFEngine(str(tiny_model), extra={"batch_size": 64})  # as `--engine-arg batch_size=64` passes it


def engine_requests(tiny_tokenizer, n_problems=5, k=3):
    from rarft_eval.engines.base import GenerationRequest

    reqs = []
    for i in range(n_problems):  # prompts of different lengths, so batches are padded
        msgs = [{"role": "user", "content": f"What is {i} + {7 * i}?" + " Think." * (3 * i)}]
        prompt = tiny_tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        reqs.append(GenerationRequest(("t", str(i)), prompt, 0, k, 1000 + 97 * i, k))
    return reqs


def draw(engine, reqs, batch_size, **sampling):
    from rarft_eval.config import SamplingConfig

    engine.batch_size = batch_size
    cfg = SamplingConfig(**{"temperature": 1.0, "top_p": 1.0, "max_tokens": 16, **sampling})
    out = list(engine.generate(reqs, cfg))
    assert [r.key for r, _ in out] == [r.key for r in reqs]  # request order
    return {(r.key, c.sample_index): c for r, comps in out for c in comps}


def test_hf_engine_options_and_info(hf_engine):
    assert hf_engine.batch_size == 64 and hf_engine.info()["settings"]["batch_size"] == 64


def test_hf_engine_batch_size_does_not_change_samples(hf_engine, tiny_tokenizer):
    reqs = engine_requests(tiny_tokenizer)
    one = draw(hf_engine, reqs, 1)
    many = draw(hf_engine, reqs, 64)
    some = draw(hf_engine, reqs, 4)  # batches that split a request's samples
    assert len(one) == 15 and one == many == some
    for (key, i), c in one.items():
        req = next(r for r in reqs if r.key == key)
        assert c.prompt_tokens == len(tiny_tokenizer(req.prompt, add_special_tokens=False)["input_ids"])
        assert c.finish_reason in ("stop", "length") and 0 < c.completion_tokens <= 16
        assert c.finish_reason == "stop" or c.completion_tokens == 16


def test_hf_engine_resumed_block_redraws_the_same_samples(hf_engine, tiny_tokenizer):
    from dataclasses import replace

    reqs = engine_requests(tiny_tokenizer, k=6)
    full = draw(hf_engine, reqs, 64)
    # problem 2 resumed with samples 3 and 4 missing, drawn alongside other problems' full draws
    resumed = [reqs[0], replace(reqs[2], first_index=3, n=2), reqs[4]]
    again = draw(hf_engine, resumed, 64)
    assert sorted(i for (key, i) in again if key == reqs[2].key) == [3, 4]
    assert all(full[key] == c for key, c in again.items())
    alone = draw(hf_engine, [replace(reqs[2], first_index=4, n=1)], 64)
    assert alone == {(reqs[2].key, 4): full[(reqs[2].key, 4)]}


def test_hf_engine_sample_indices_differ_and_greedy_is_shared(hf_engine, tiny_tokenizer):
    reqs = engine_requests(tiny_tokenizer, n_problems=2, k=6)
    sampled = draw(hf_engine, reqs, 64)
    for req in reqs:
        texts = [sampled[(req.key, i)].text for i in req.sample_indices]
        assert len(set(texts)) == len(texts)  # every index is its own draw
    greedy = draw(hf_engine, reqs, 64, temperature=0.0)
    assert draw(hf_engine, reqs, 1, temperature=0.0) == greedy
    for req in reqs:
        assert len({greedy[(req.key, i)].text for i in req.sample_indices}) == 1
        # top-k 1 leaves only the argmax, whatever the noise: the warpers run before the Gumbel draw
        top1 = draw(hf_engine, [req], 64, top_k=1)
        assert all(top1[(req.key, i)].text == greedy[(req.key, i)].text for i in req.sample_indices)


def test_gumbel_sampler_draws_from_the_softmax_and_ignores_batch_mates():
    from rarft_eval.config import SamplingConfig
    from rarft_eval.engines.hf_engine import SeededGumbelSampler

    cfg = SamplingConfig(temperature=0.5, top_p=1.0, max_tokens=8)
    logits = torch.tensor([1.0, 0.5, 0.0, -0.5, 0.25])
    n = 20000
    sampler = SeededGumbelSampler(range(n), prompt_len=4, sampling=cfg, device="cpu")
    picks = sampler(torch.zeros(n, 4, dtype=torch.long), logits.expand(n, 5).clone()).argmax(-1)
    freq = torch.bincount(picks, minlength=5) / n
    assert torch.allclose(freq, torch.softmax(logits / 0.5, 0), atol=0.015)
    # a row's noise depends on its seed and the step only
    alone = SeededGumbelSampler([123], prompt_len=4, sampling=cfg, device="cpu").gumbel(3, 50, "cpu")
    mixed = SeededGumbelSampler([7, 123, 9], prompt_len=9, sampling=cfg, device="cpu").gumbel(3, 50, "cpu")
    assert torch.equal(alone[0], mixed[1]) and not torch.equal(mixed[0], mixed[1])
    assert not torch.equal(alone, SeededGumbelSampler([123], 4, cfg, "cpu").gumbel(4, 50, "cpu"))


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
