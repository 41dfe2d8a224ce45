"""Retriever training with `trainable_layers` and `save_format: delta`: a checkpoint of a few MB (the top
layers' tensors in float16 over the offline MiniLM) that `benefit:CHECKPOINT` loads and that ranks as the
trained model does; the base is verified by hash and the frozen weights stay the base's."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from rarft_eval.errors import RarftError
from tests.training.conftest import RETRIEVER_TEST_SETTINGS

pytestmark = pytest.mark.slow

TRAINABLE = 2


def _recipe(constructed, output, **over):
    from rarft_eval.training.recipes import RetrieverRecipe

    return RetrieverRecipe.model_validate({
        "labels": [str(constructed["labels"])], "queries": {"path": str(constructed["queries"])},
        "corpus": {"path": str(constructed["corpus"])}, "output": str(output), "device": "cpu",
        **RETRIEVER_TEST_SETTINGS, "trainable_layers": TRAINABLE, "save_format": "delta", **over})


@pytest.fixture(scope="module")
def delta_run(constructed, tmp_path_factory):
    """Trained in process (the in-memory model stays at hand): (trainer, checkpoint dir, verify() result)."""
    from rarft_eval.training.retriever_train import RetrieverTrainer

    out = tmp_path_factory.mktemp("delta") / "ckpt"
    trainer = RetrieverTrainer(_recipe(constructed, out), log=lambda *_: None)
    trainer.prepare()
    result = trainer.train()
    ckpt = trainer.save(result)
    return trainer, ckpt, trainer.verify(ckpt), result


def _base_model():
    from sentence_transformers import SentenceTransformer

    from rarft_eval.retrieval.dense import default_model_path

    return SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True)


def test_delta_checkpoint_is_a_few_mb_and_names_its_base(delta_run):
    from safetensors import safe_open

    from rarft_eval.retrieval.dense import default_model_path
    from rarft_eval.retrieval.store import file_sha256, weights_sha256

    trainer, ckpt, _, result = delta_run
    files = {p.name: p.stat().st_size for p in ckpt.iterdir()}
    size = sum(files.values())
    assert size < 10 * 2**20, files
    assert not {"model.safetensors", "pytorch_model.bin", "modules.json", "config.json"} & set(files), files
    assert "delta.safetensors" in files and "rarft_retriever.json" in files
    manifest = json.loads((ckpt / "rarft_retriever.json").read_text())
    base_sha = weights_sha256(default_model_path())
    assert manifest["save_format"] == "delta" and manifest["base_model"]["ref"] == "default"
    assert manifest["base_weights_sha256"] == base_sha == manifest["base_model"]["weights_sha256"]
    assert manifest["delta"]["sha256"] == file_sha256(ckpt / "delta.safetensors")
    assert manifest["delta"]["max_seq_length"] == RETRIEVER_TEST_SETTINGS["max_seq_length"]
    with safe_open(str(ckpt / "delta.safetensors"), framework="pt") as f:
        keys = list(f.keys())
        assert all(str(f.get_tensor(k).dtype) == "torch.float16" for k in keys)
    # the top 2 of MiniLM's 6 layers and the pooler, nothing below
    assert keys and all(".encoder.layer.4." in k or ".encoder.layer.5." in k or ".pooler." in k for k in keys), keys
    assert any(".encoder.layer.4." in k for k in keys) and not any("embeddings" in k for k in keys)
    assert manifest["delta"]["parameters"] == result["parameters"]["trainable"] < result["parameters"]["total"] / 3


def test_benefit_retriever_loads_the_delta_and_ranks_like_the_trained_model(delta_run, constructed):
    from rarft_eval.retrieval import Corpus, make_retriever

    trainer, ckpt, verified, result = delta_run
    assert verified["recall@1"] == pytest.approx(result["best"]["recall@1"])
    assert result["best"]["recall@1"] > result["base"]["recall@1"]  # the top layers alone learn the labels
    retriever = make_retriever(f"benefit:{ckpt}", Corpus.load(constructed["corpus"]), use_cache=False)
    assert retriever.name == "benefit"
    queries = [trainer.problems[q].problem for q in trainer.heldout + trainer.train_ids[:12]]
    loaded = retriever.embed_queries(queries) @ retriever.embeddings.T
    model = trainer.model.eval()
    docs = model.encode(trainer.doc_texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    qs = model.encode(queries, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    memory = qs @ docs.T
    assert np.abs(loaded - memory).max() < 1e-2
    assert (loaded.argmax(axis=1) == memory.argmax(axis=1)).all()
    # the index identity covers the delta and the base
    info = retriever.model_info()
    assert len(info["weights_sha256"]) == 64 and info["weights_sha256"] != retriever.checkpoint_config["base_weights_sha256"]


def test_frozen_layers_keep_the_base_weights(delta_run):
    trainer, _, _, _ = delta_run
    base = _base_model().state_dict()
    trained = trainer.model.state_dict()
    frozen = [k for k in base if "embeddings" in k or any(f".encoder.layer.{i}." in k for i in range(6 - TRAINABLE))]
    assert any("word_embeddings" in k for k in frozen) and any(".encoder.layer.3." in k for k in frozen)
    for k in frozen:
        assert trained[k].cpu().equal(base[k]), k
    assert any(not trained[k].cpu().equal(base[k]) for k in trained if ".encoder.layer.5." in k)


def test_tampered_base_hash_is_a_one_line_error(delta_run, tmp_path):
    from rarft_eval.retrieval.dense import BenefitRetriever

    _, ckpt, _, _ = delta_run
    bad = tmp_path / "tampered"
    shutil.copytree(ckpt, bad)
    manifest = json.loads((bad / "rarft_retriever.json").read_text())
    real = manifest["base_weights_sha256"]
    manifest["base_weights_sha256"] = "0" * 64
    (bad / "rarft_retriever.json").write_text(json.dumps(manifest))
    retriever = BenefitRetriever(str(bad), use_cache=False)
    with pytest.raises(RarftError) as err:
        retriever.embedder.model
    msg = str(err.value)
    assert "\n" not in msg and "0" * 64 in msg and real in msg, msg
    with pytest.raises(RarftError, match="0{64}"):
        retriever.embedder.weights_sha256


def test_delta_with_a_tensor_the_base_lacks_is_refused(delta_run, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    from rarft_eval.retrieval.dense import BenefitRetriever

    _, ckpt, _, _ = delta_run
    bad = tmp_path / "foreign"
    shutil.copytree(ckpt, bad)
    tensors = load_file(str(bad / "delta.safetensors"))
    before = BenefitRetriever(str(bad), use_cache=False).embedder.weights_sha256
    tensors["0.model.encoder.layer.9.output.dense.weight"] = torch.zeros(2, 2, dtype=torch.float16)
    save_file(tensors, str(bad / "delta.safetensors"))
    retriever = BenefitRetriever(str(bad), use_cache=False)
    assert retriever.embedder.weights_sha256 != before  # a changed delta is a new index cache key
    with pytest.raises(RarftError, match="tensors the base model lacks") as err:
        retriever.embedder.model
    assert "\n" not in str(err.value)


def test_bad_trainable_layers_stop_before_the_model_loads(constructed, tmp_path):
    from rarft_eval.training.retriever_train import RetrieverTrainer

    with pytest.raises(ValueError, match="trainable_layers"):
        _recipe(constructed, tmp_path / "o", trainable_layers=0)
    trainer = RetrieverTrainer(_recipe(constructed, tmp_path / "o", trainable_layers=7))
    with pytest.raises(RarftError, match="has 6 transformer layers"):
        trainer.prepare()
