"""Stage 2: fine-tune a sentence-transformers bi-encoder on benefit labels (InfoNCE), RA-RFT §3.3.

    rarft-train retriever --config training/retriever.yaml

Loss (the paper's Eq. 2): for a training query q with a positive demonstration c+,
-log exp(<e_q, e_c+>/tau) / sum_c exp(<e_q, e_c>/tau), tau = 0.05, embeddings L2-normalized; the
denominator holds every demonstration in the batch (the other queries' positives, in-batch negatives)
plus `hard_negatives` labelled non-positives of each query. A batch demonstration that is *also*
labelled positive for q (or is the same record) is masked out of q's denominator, so it never acts
as a negative.

5% of the queries that have a positive are held out (seeded); recall@1 on them (top-1 over the whole
corpus, leaks excluded exactly as the retriever excludes them) is measured before training and after
each epoch (or every `eval_every` steps), and the best checkpoint is kept. It is written to `output`
as a sentence-transformers directory with `rarft_retriever.json` (what `--retriever
benefit:CHECKPOINT` reads: corpus hash, index text, prefixes; plus labels hash, base model and
metrics), then loaded back through the benefit retriever and re-scored, so the reported recall@1 is
the harness's own.

`trainable_layers: N` freezes the embeddings and all but the top N transformer layers of the base
model (only those layers and the pooler train). `save_format: delta` writes no model directory, only
the manifest plus `delta.safetensors` (the trainable tensors, float16, keyed like the
SentenceTransformer's state dict); the manifest names the base (`base_model.ref`: `default` or the
directory / hub id) and its `base_weights_sha256`, and the loader applies the delta on top of it.
"""

from __future__ import annotations

import copy
import math
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rarft_eval.errors import RarftError
from rarft_eval.training.common import git_info, info, now, sha256_file, versions, write_json, write_jsonl
from rarft_eval.training.data import load_corpus, load_queries, read_queries, write_queries
from rarft_eval.training.recipes import RetrieverRecipe, to_plain

MANIFEST_FORMAT = 1


def _read_labels(recipe: RetrieverRecipe) -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    from rarft_eval.retrieval.labels import load_labels

    merged: dict[str, dict[str, float]] = {}
    info = []
    for path in recipe.labels:
        labels = load_labels(path)
        n = sum(len(v) for v in labels.values())
        pos = sum(1 for v in labels.values() for x in v.values() if x > recipe.positive_threshold)
        info.append({"path": str(Path(path).resolve()), "sha256": sha256_file(path), "pairs": n, "positives": pos})
        for q, demos in labels.items():
            merged.setdefault(q, {}).update(demos)
    return merged, info


def _queries(recipe: RetrieverRecipe):
    if recipe.queries is not None:
        return load_queries(recipe.queries)
    path = Path(recipe.labels[0]).parent / "queries.jsonl"
    if not path.is_file():
        raise RarftError(f"no queries: {path} does not exist; give the recipe a `queries:` section")
    return read_queries(path)


def _hf_module(model):
    """The Hugging Face transformer inside a SentenceTransformer's first module (`model` in
    sentence-transformers >= 5, `auto_model` before)."""
    from transformers import PreTrainedModel

    first = model[0]
    for attr in ("model", "auto_model"):
        m = getattr(first, attr, None)
        if isinstance(m, PreTrainedModel):
            return m
    raise RarftError(f"trainable_layers: cannot find the transformer inside {type(first).__name__}; train every layer "
                     f"(leave trainable_layers out)")


def _layer_list(hf):
    import torch

    for dotted in ("encoder.layer", "encoder.layers", "layers", "transformer.layer", "model.layers"):
        obj = hf
        for part in dotted.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, torch.nn.ModuleList) and len(obj):
            return obj
    raise RarftError(f"trainable_layers: cannot find the transformer layers of {type(hf).__name__}; train every "
                     f"layer (leave trainable_layers out)")


def freeze_lower_layers(model, n: int) -> None:
    """Freeze the embeddings and all but the top `n` transformer layers; everything else stays trainable."""
    hf = _hf_module(model)
    layers = _layer_list(hf)
    if n > len(layers):
        raise RarftError(f"trainable_layers is {n} but the base model has {len(layers)} transformer layers")
    embeddings = getattr(hf, "embeddings", None)
    if embeddings is None:
        embeddings = hf.get_input_embeddings()
    for module in (embeddings, *layers[:len(layers) - n]):
        for p in module.parameters():
            p.requires_grad_(False)


def _base_layer_count(base_path: Path) -> int | None:
    import json

    try:
        cfg = json.loads((base_path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    n = cfg.get("num_hidden_layers", cfg.get("n_layers")) if isinstance(cfg, dict) else None
    return n if isinstance(n, int) else None


def base_ref(ref: str | None) -> str:
    """How a delta checkpoint's manifest names its base: `default`, an absolute directory, or a hub id."""
    from rarft_eval.retrieval.dense import _DEFAULT_ALIASES

    if ref is None or ref.strip().lower() in _DEFAULT_ALIASES:
        return "default"
    p = Path(ref).expanduser()
    return str(p.resolve()) if p.exists() else ref


def _device(name: str) -> str:
    import torch

    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


class RetrieverTrainer:
    def __init__(self, recipe: RetrieverRecipe, log=info):
        self.r = recipe
        self.log = log

    # ------------------------------------------------------------------ inputs (no model loaded)
    def prepare(self) -> None:
        r = self.r
        if not 0 < r.temperature:
            raise RarftError(f"temperature must be > 0 (got {r.temperature})")
        if not 0 < r.holdout_fraction < 1:
            raise RarftError(f"holdout_fraction must be in (0, 1) (got {r.holdout_fraction})")
        labels, self.labels_info = _read_labels(r)
        thr = r.positive_threshold
        n_pos = sum(i["positives"] for i in self.labels_info)
        if n_pos == 0:
            names = ", ".join(Path(i["path"]).name for i in self.labels_info)
            raise RarftError(
                f"labels {names} hold no positive pair (no value above positive_threshold={thr}); the retriever learns "
                f"from positives: check the labeler's report.json, or lower positive_threshold"
            )
        queries = _queries(r)
        self.corpus = load_corpus(r.corpus)
        by_id = {q.id: q for q in queries}
        by_key = {f"{q.task}/{q.id}": q for q in queries}
        self.pos: dict[str, list[str]] = {}
        self.neg: dict[str, list[str]] = {}
        unknown_queries = unknown_demos = 0
        self.problems: dict[str, Any] = {}
        for qid, demos in labels.items():
            q = by_id.get(qid) or by_key.get(qid)
            if q is None:
                unknown_queries += 1
                continue
            for did, value in demos.items():
                if self.corpus.position(did) is None:
                    unknown_demos += 1
                    continue
                (self.pos if value > thr else self.neg).setdefault(q.id, []).append(did)
            self.problems[q.id] = q
        if not self.pos:
            raise RarftError(
                f"none of the positive pairs matches both a training query and a record of the corpus "
                f"{self.corpus.source} ({unknown_queries} unknown query ids, {unknown_demos} unknown demo ids): wrong "
                f"queries or corpus?"
            )
        for d in (self.pos, self.neg):
            for k in d:
                d[k] = sorted(set(d[k]))
        eligible = sorted(self.pos)
        if len(eligible) < 2:
            raise RarftError(f"only {len(eligible)} query has a positive; need at least 2 (one to train, one to hold out)")
        rng = random.Random(r.seed)
        rng.shuffle(eligible)
        n_hold = min(len(eligible) - 1, max(r.min_holdout, round(r.holdout_fraction * len(eligible))))
        self.heldout = sorted(eligible[:n_hold])
        self.train_ids = sorted(eligible[n_hold:])
        self.data_stats = {"queries_with_positive": len(eligible), "heldout_queries": len(self.heldout),
                           "train_queries": len(self.train_ids), "unknown_query_ids": unknown_queries,
                           "unknown_demo_ids": unknown_demos,
                           "train_positive_pairs": sum(len(self.pos[q]) for q in self.train_ids),
                           "train_negative_pairs": sum(len(self.neg.get(q, [])) for q in self.train_ids),
                           "corpus": self.corpus.describe()}
        self.doc_texts = [r.doc_prefix + t for t in self.corpus.texts(r.index_text)]
        from rarft_eval.retrieval.dense import resolve_model

        self.base_name, self.base_path = resolve_model(r.base_model)
        n_layers = _base_layer_count(self.base_path)
        if r.trainable_layers is not None and n_layers is not None and r.trainable_layers > n_layers:
            raise RarftError(f"trainable_layers is {r.trainable_layers} but the base model {self.base_name} has "
                             f"{n_layers} transformer layers")

    # ------------------------------------------------------------------ model
    def _encode_train(self, model, texts: list[str], device: str):
        import torch.nn.functional as F

        prep = getattr(model, "preprocess", None) or model.tokenize
        features = prep(texts)
        features = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in features.items()}
        return F.normalize(model(features)["sentence_embedding"], dim=-1)

    def evaluate(self, model) -> dict[str, Any]:
        from rarft_eval.retrieval.labels import recall_at_k

        model.eval()
        docs = model.encode(self.doc_texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                            show_progress_bar=False).astype(np.float32)
        problems = [self.problems[q] for q in self.heldout]
        qs = model.encode([self.r.query_prefix + p.problem for p in problems], batch_size=64,
                          normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False).astype(np.float32)
        sims = qs @ docs.T
        ranked: dict[str, list[str]] = {}
        for qid, row, leaks in zip(self.heldout, sims, self.heldout_leaks):
            order = np.argsort(-row, kind="stable")
            top = []
            for pos in order:
                if int(pos) in leaks:
                    continue
                top.append(self.corpus[int(pos)].id)
                if len(top) >= 5:
                    break
            ranked[qid] = top
        gold = {q: {d: 1.0 for d in self.pos[q]} for q in self.heldout}
        return recall_at_k(ranked, gold, (1, 5))

    def train(self) -> dict[str, Any]:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers import get_linear_schedule_with_warmup

        from rarft_eval.retrieval.base import _guard_for
        from rarft_eval.retrieval.leakage import LeakConfig

        r = self.r
        t_start = time.perf_counter()
        device = _device(r.device)
        torch.manual_seed(r.seed)
        guard = _guard_for(self.corpus, LeakConfig())
        self.heldout_leaks = guard.find([self.problems[q].problem for q in self.heldout])
        model = SentenceTransformer(str(self.base_path), device=device, local_files_only=True)
        if r.max_seq_length:
            model.max_seq_length = r.max_seq_length
        if r.trainable_layers is not None:
            freeze_lower_layers(model, r.trainable_layers)
        params = [p for p in model.parameters() if p.requires_grad]
        self.trainable_names = [n for n, p in model.named_parameters() if p.requires_grad]
        n_train, n_all = sum(p.numel() for p in params), sum(p.numel() for p in model.parameters())
        rng = random.Random(r.seed)
        examples = [(q, d) for q in self.train_ids for d in self.pos[q]]
        steps_per_epoch = max(1, math.ceil(len(examples) / r.batch_size))
        total = steps_per_epoch * r.epochs
        optim = torch.optim.AdamW(params, lr=r.lr, weight_decay=r.weight_decay)
        sched = get_linear_schedule_with_warmup(optim, int(r.warmup_ratio * total), total)
        eval_every = r.eval_every or steps_per_epoch
        base = self.evaluate(model)
        history = [{"step": 0, "epoch": 0.0, "recall@1": base["recall@1"], "recall@5": base["recall@5"]}]
        best = {"step": 0, "recall@1": base["recall@1"], "recall@5": base["recall@5"]}
        best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        self.log(f"retriever: {len(examples)} training pairs, {len(self.heldout)} held-out queries, "
                 f"{n_train:,} of {n_all:,} parameters trainable; "
                 f"recall@1 before training {base['recall@1']:.3f}")
        step = 0
        losses: list[float] = []
        for _epoch in range(r.epochs):
            rng.shuffle(examples)
            for start in range(0, len(examples), r.batch_size):
                batch = examples[start:start + r.batch_size]
                model.train()
                q_texts = [r.query_prefix + self.problems[q].problem for q, _ in batch]
                doc_ids = [d for _, d in batch]
                for q, _ in batch:
                    negs = self.neg.get(q, [])
                    doc_ids.extend(rng.sample(negs, min(r.hard_negatives, len(negs))))
                d_texts = [self.doc_texts[self.corpus.position(d)] for d in doc_ids]
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=r.bf16 and device.startswith("cuda")):
                    qe = self._encode_train(model, q_texts, device)
                    de = self._encode_train(model, d_texts, device)
                scores = (qe.float() @ de.float().T) / r.temperature
                mask = torch.zeros_like(scores, dtype=torch.bool)
                for i, (q, d) in enumerate(batch):
                    positives = set(self.pos[q])
                    for j, dj in enumerate(doc_ids):
                        if j != i and (dj in positives or dj == d):
                            mask[i, j] = True
                scores = scores.masked_fill(mask, float("-inf"))
                loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(batch), device=scores.device))
                optim.zero_grad(set_to_none=True)
                loss.backward()
                if r.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, r.max_grad_norm)
                optim.step()
                sched.step()
                step += 1
                losses.append(float(loss.detach()))
                last = step == total
                if step % eval_every == 0 or last:
                    m = self.evaluate(model)
                    entry = {"step": step, "epoch": round(step / steps_per_epoch, 3), "loss": float(np.mean(losses)),
                             "recall@1": m["recall@1"], "recall@5": m["recall@5"]}
                    losses = []
                    history.append(entry)
                    self.log(f"retriever: step {step}/{total} loss {entry['loss']:.4f} held-out recall@1 "
                             f"{m['recall@1']:.3f} recall@5 {m['recall@5']:.3f}")
                    if m["recall@1"] > best["recall@1"]:
                        best = {"step": step, "recall@1": m["recall@1"], "recall@5": m["recall@5"]}
                        best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        model.load_state_dict(best_state)
        self.model = model
        return {"base": {"recall@1": base["recall@1"], "recall@5": base["recall@5"]}, "best": best,
                "history": history, "steps": total, "steps_per_epoch": steps_per_epoch, "device": device,
                "parameters": {"trainable": n_train, "total": n_all},
                "train_seconds": round(time.perf_counter() - t_start, 3)}

    # ------------------------------------------------------------------ output
    def save(self, result: dict[str, Any]) -> Path:
        from rarft_eval.retrieval.dense import CHECKPOINT_CONFIG, DELTA_FILE
        from rarft_eval.retrieval.store import file_sha256, weights_sha256

        r = self.r
        out = Path(r.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            base_sha = weights_sha256(self.base_path)
            if r.save_format == "delta":
                delta = self._write_delta(tmp / DELTA_FILE)
            else:
                self.model.save(str(tmp))
            config = {
                "format": MANIFEST_FORMAT,
                # what the benefit retriever reads
                "corpus_sha256": self.corpus.sha256,
                "index_text": r.index_text,
                "query_prefix": r.query_prefix,
                "doc_prefix": r.doc_prefix,
                # provenance
                "corpus_file_sha256": self.corpus.file_sha256,
                "corpus_source": self.corpus.source,
                "save_format": r.save_format,
                "base_model": {"name": self.base_name, "path": str(self.base_path), "ref": base_ref(r.base_model),
                               "weights_sha256": base_sha},
                "labels": self.labels_info,
                "metrics": {"heldout_recall@1_before": result["base"]["recall@1"],
                            "heldout_recall@5_before": result["base"]["recall@5"],
                            "heldout_recall@1": result["best"]["recall@1"],
                            "heldout_recall@5": result["best"]["recall@5"],
                            "best_step": result["best"]["step"], "heldout_queries": len(self.heldout)},
                "hyperparameters": {k: getattr(r, k) for k in ("temperature", "epochs", "batch_size", "lr",
                                                               "warmup_ratio", "weight_decay", "hard_negatives",
                                                               "positive_threshold", "holdout_fraction", "seed",
                                                               "max_grad_norm", "bf16", "trainable_layers")},
                "git": git_info(),
                "created": now(),
            }
            if r.save_format == "delta":
                # what the loader needs: the base (base_model.ref, resolved like `semantic:`) and its hash
                config["base_weights_sha256"] = base_sha
                config["delta"] = {"file": DELTA_FILE, "sha256": file_sha256(tmp / DELTA_FILE), "dtype": "float16",
                                   **delta}
            write_json(tmp / CHECKPOINT_CONFIG, config)
            gold = [{"query_id": q, "demo_id": d, "label": 1.0} for q in self.heldout for d in self.pos[q]]
            write_jsonl(tmp / "heldout_labels.jsonl", gold)
            write_queries(tmp / "heldout_queries.jsonl", [self.problems[q] for q in self.heldout])
            if out.exists():
                if not (out / CHECKPOINT_CONFIG).is_file() and any(out.iterdir()):
                    raise RarftError(f"{out} exists and is not a retriever checkpoint; not replacing it")
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
                out.rename(old / "x")
                shutil.rmtree(old, ignore_errors=True)
            tmp.rename(out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out

    def _write_delta(self, path: Path) -> dict[str, Any]:
        """The trainable tensors of the (best) model, float16, keyed like the SentenceTransformer's state dict."""
        import torch
        from safetensors.torch import save_file

        state = self.model.state_dict()
        tensors = {}
        for name in self.trainable_names:
            t = state[name].detach().to("cpu", torch.float16).contiguous()
            if not torch.isfinite(t).all():
                raise RarftError(f"save_format delta: tensor {name} does not fit float16 (inf after the cast); use "
                                 f"save_format: full")
            tensors[name] = t
        save_file(tensors, str(path), metadata={"format": "pt"})
        # the one setting a full save keeps in sentence_bert_config.json that may differ from the base's
        return {"tensors": len(tensors), "parameters": sum(t.numel() for t in tensors.values()),
                "trainable_layers": self.r.trainable_layers, "max_seq_length": self.model.max_seq_length}

    def verify(self, out: Path) -> dict[str, Any]:
        """Load the written checkpoint as `benefit:OUT` and score the held-out queries through the harness."""
        from rarft_eval.retrieval import evaluate_retriever, make_retriever

        retriever = make_retriever(f"benefit:{out}", self.corpus, use_cache=False)
        problems = [self.problems[q] for q in self.heldout]
        gold = {q: {d: 1.0 for d in self.pos[q]} for q in self.heldout}
        return evaluate_retriever(retriever, problems, gold)


def run_retriever_training(recipe: RetrieverRecipe, log=info) -> dict[str, Any]:
    t0 = time.perf_counter()
    trainer = RetrieverTrainer(recipe, log)
    trainer.prepare()  # every input check before the model loads
    result = trainer.train()
    out = trainer.save(result)
    check = trainer.verify(out)
    report = {"recipe": to_plain(recipe), "checkpoint": str(out), "data": trainer.data_stats,
              "labels": trainer.labels_info, "heldout_query_ids": trainer.heldout, **result,
              "verified": {"recall@1": check["recall@1"], "recall@5": check["recall@5"],
                           "n_queries": check["n_queries"], "via": f"make_retriever('benefit:{out}')"},
              "seconds": round(time.perf_counter() - t0, 3), "git": git_info(), "versions": versions(),
              "finished": now()}
    write_json(out / "training_report.json", report)
    log(f"retriever: held-out recall@1 {result['base']['recall@1']:.3f} -> {result['best']['recall@1']:.3f} "
        f"(benefit retriever reloaded: {check['recall@1']:.3f}); checkpoint {out}")
    return report
