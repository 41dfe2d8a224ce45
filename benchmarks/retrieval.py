"""Retrieval benchmark: index build time and queries/second, MATH-500 queries over the MATH train corpus.

    python benchmarks/retrieval.py                       # random, bm25, semantic (MiniLM); ~15 min on 2 cores
    python benchmarks/retrieval.py --retrievers bm25 --json out.json
    python benchmarks/retrieval.py --corpus-limit 1000   # quicker, smaller corpus

For each retriever: cold index build (fresh cache dir), warm load from the on-disk cache, and
end-to-end `retrieve(500 problems, k)` throughput (leak guard included). Against each, in the same run,
a brute-force baseline that scores every corpus record for every query with numpy/scipy and sorts:

* semantic: numpy `Q @ E.T` + argsort over the same embeddings, vs the faiss IndexFlatIP search
  (and HNSW / IVF indexes over the same embeddings, with their recall@k against exact search);
* bm25: an independent scipy-sparse BM25 (same tokens, Lucene idf) vs bm25s;
* leak guard: the sparse-product guard vs a Python loop of set Jaccards (on a sample, extrapolated).

Agreement of the top-k ids with the baseline is printed next to the speed (it must be ~1.0 for
exact search).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rarft_eval.retrieval import Corpus, Query, make_retriever
from rarft_eval.retrieval.leakage import LeakGuard, jaccard
from rarft_eval.tasks import resolve_tasks


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def topk_rows(scores: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
    order = np.take_along_axis(scores, part, 1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(part, order, 1)


def overlap(a: list[list[int]], b: list[list[int]], k: int) -> float:
    return float(np.mean([len(set(x[:k]) & set(y[:k])) / k for x, y in zip(a, b)]))


def bench_guard(corpus: Corpus, queries: list[str], sample: int) -> dict:
    guard, build_s = timed(LeakGuard, [r.problem for r in corpus])
    found, find_s = timed(guard.find, queries)
    probs = [r.problem for r in corpus]
    sub = queries[:sample]
    ref, loop_s = timed(lambda: [{i for i, p in enumerate(probs) if jaccard(q, p) >= 0.5} for q in sub])
    agree = all(set(found[j]) == ref[j] for j in range(len(sub)))
    return {"build_s": build_s, "find_s": find_s, "queries": len(queries), "pairs_flagged": sum(map(len, found)),
            "python_loop_s_sample": loop_s, "python_loop_sample": len(sub),
            "python_loop_s_extrapolated": loop_s * len(queries) / max(1, len(sub)), "agrees_on_sample": agree}


def bm25_bruteforce(retriever, corpus_texts: list[str], queries: list[str], k: int):
    """Independent exhaustive BM25 (Lucene idf, same tokens) with scipy.sparse.

    Returns (top-k ids, build_s, search_s, full score matrix)."""
    from scipy import sparse

    from rarft_eval.retrieval.lexical import bm25_tokenize

    stop = retriever._stop
    t0 = time.perf_counter()
    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    lengths = np.zeros(len(corpus_texts))
    for i, text in enumerate(corpus_texts):
        toks = bm25_tokenize(text, stop)
        lengths[i] = len(toks)
        counts: dict[int, int] = {}
        for t in toks:
            j = vocab.setdefault(t, len(vocab))
            counts[j] = counts.get(j, 0) + 1
        for j, c in counts.items():
            rows.append(i)
            cols.append(j)
            vals.append(c)
    tf = sparse.csr_matrix((np.array(vals, float), (rows, cols)), shape=(len(corpus_texts), len(vocab)))
    n = len(corpus_texts)
    df = np.bincount(tf.indices, minlength=len(vocab))
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    k1, b = retriever.k1, retriever.b
    norm = k1 * (1 - b + b * lengths / lengths.mean())
    tf = tf.tocoo()
    w = tf.data * (k1 + 1) / (tf.data + norm[tf.row]) * idf[tf.col]
    weights = sparse.csc_matrix((w, (tf.row, tf.col)), shape=tf.shape)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    qrows, qcols = [], []
    for qi, q in enumerate(queries):
        for t in bm25_tokenize(q, stop):  # a repeated query term counts each time, as in bm25s
            if t in vocab:
                qrows.append(qi)
                qcols.append(vocab[t])
    qm = sparse.csr_matrix((np.ones(len(qrows)), (qrows, qcols)), shape=(len(queries), len(vocab)))  # sums dups
    scores = (qm @ weights.T).toarray()
    top = topk_rows(scores, k)
    return top.tolist(), build_s, time.perf_counter() - t0, scores


def run(args) -> dict:
    problems = resolve_tasks("math500")[0].load_problems()
    corpus = Corpus.load(args.corpus, limit=args.corpus_limit)
    queries = [p.problem for p in problems]
    k = args.k
    cache = Path(args.cache_dir or tempfile.mkdtemp(prefix="rarft-bench-"))
    out: dict = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_start": os.getloadavg()},
        "corpus": {"records": len(corpus), "sha256": corpus.sha256[:12]}, "queries": len(queries), "k": k,
        "results": {},
    }
    print(f"corpus {len(corpus)} records, {len(queries)} MATH-500 queries, k={k}, cache {cache}", flush=True)

    g = bench_guard(corpus, queries, args.guard_sample)
    out["leak_guard"] = g
    print(f"leak guard: build {g['build_s']:.2f}s, 500 queries {g['find_s'] * 1000:.0f} ms "
          f"({g['pairs_flagged']} pairs); python loop {g['python_loop_s_sample']:.1f}s for {g['python_loop_sample']} "
          f"queries -> ~{g['python_loop_s_extrapolated']:.0f}s for all; agrees {g['agrees_on_sample']}", flush=True)

    for spec in args.retrievers.split(","):
        spec = spec.strip()
        res: dict = {}
        r = make_retriever(spec, corpus, cache_dir=cache)
        _, res["build_s"] = timed(r.index)
        res["index_status"] = r.index_status
        demos, res["retrieve_s"] = timed(r.retrieve, problems, k)
        res["qps"] = len(problems) / res["retrieve_s"]
        res["mean_latency_ms"] = r.last_stats["mean_latency_ms"]
        res["excluded_leaks"] = r.last_stats["excluded_leaks"]
        if r.cacheable:
            r2 = make_retriever(spec, corpus, cache_dir=cache)
            _, res["warm_load_s"] = timed(r2.index)
            res["warm_status"] = r2.index_status
            same = [[d.id for d in row] for row in r2.retrieve(problems, k)] == [[d.id for d in row] for row in demos]
            res["warm_identical"] = same
        name = spec.split(":", 1)[0]
        if name in ("semantic", "benefit"):
            emb = r.embeddings
            qemb, res["query_encode_s"] = timed(r.embedder.encode, queries, r.batch_size, r.query_prefix)
            res["corpus_encode_per_s"] = len(corpus) / res["build_s"] if r.index_status == "built" else None
            (_, faiss_idx), res["faiss_search_s"] = timed(r._faiss.search, qemb, k)
            top_np, res["numpy_search_s"] = timed(lambda q, e: topk_rows(q @ e.T, k), qemb, emb)
            res["faiss_search_qps"] = len(queries) / res["faiss_search_s"]
            res["numpy_search_qps"] = len(queries) / res["numpy_search_s"]
            res["faiss_vs_numpy_topk_agreement"] = overlap(faiss_idx.tolist(), top_np.tolist(), k)
            from rarft_eval.retrieval.dense import build_faiss_index

            # the optional embedding leak check (cosine >= 0.95) on top of exact + 4-gram
            guarded = make_retriever(spec, corpus, cache_dir=cache, leak={"embedding": args.embedding_leak})
            guarded.index()
            guarded._qcache = r._qcache  # same model: reuse the query embeddings
            _, res["embedding_guard_retrieve_s"] = timed(guarded.retrieve, problems, k)
            res["embedding_guard_excluded_leaks"] = guarded.last_stats["excluded_leaks"]
            res["embedding_guard_excluded_by_reason"] = guarded.last_stats["excluded_by_reason"]
            res["embedding_guard_leak_candidates"] = guarded.last_stats["leak_candidates"]
            res["embedding_guard_queries_with_leak_candidates"] = guarded.last_stats["queries_with_leak_candidates"]
            kk = max(k, 10)
            exact = topk_rows(qemb @ emb.T, kk).tolist()
            for kind in ("hnsw", "ivf"):
                idx, b_s = timed(build_faiss_index, emb, kind)
                (_, ann), s_s = timed(idx.search, qemb, kk)
                res[f"{kind}_build_s"] = b_s
                res[f"{kind}_search_qps"] = len(queries) / s_s
                res[f"{kind}_recall@{kk}_vs_exact"] = overlap(ann.tolist(), exact, kk)
        elif name == "bm25":
            texts = corpus.texts(r.index_text)
            top_bf, bf_build, bf_search, bf_scores = bm25_bruteforce(r, texts, queries, k)
            qs = [Query.of(p) for p in problems]
            (lib), lib_s = timed(r._search, qs, [k] * len(qs))
            res["bm25s_search_qps"] = len(queries) / lib_s
            res["bruteforce_build_s"] = bf_build
            res["bruteforce_search_qps"] = len(queries) / bf_search
            lib_ids = [[i for i, _ in row] for row in lib]
            res["bm25s_vs_bruteforce_top1_same_id"] = float(np.mean([a[:1] == b[:1] for a, b in zip(lib_ids, top_bf)]))
            # ties make ids differ: bm25s's top-1 must hold the baseline's best score
            best = bf_scores.max(axis=1)
            res["bm25s_top1_is_a_bruteforce_best"] = float(np.mean(
                [bf_scores[i, ids[0]] >= best[i] - 1e-5 * max(1.0, best[i]) for i, ids in enumerate(lib_ids)]))
            res["bm25s_vs_bruteforce_topk_agreement"] = overlap(lib_ids, top_bf, k)
        out["results"][spec] = res
        print(spec, json.dumps({a: (round(v, 4) if isinstance(v, float) else v) for a, v in res.items()}), flush=True)
    out["machine"]["loadavg_end"] = os.getloadavg()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--retrievers", default="random,bm25,semantic")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--corpus", default=None, help="corpus file (default: bundled MATH train)")
    ap.add_argument("--corpus-limit", type=int, default=None)
    ap.add_argument("--cache-dir", default=None, help="index cache (default: a fresh temp dir, so builds are cold)")
    ap.add_argument("--guard-sample", type=int, default=20, help="queries for the python-loop Jaccard baseline")
    ap.add_argument("--embedding-leak", type=float, default=0.95,
                    help="cosine threshold of the extra embedding leak check measured for semantic")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args()
    out = run(args)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print("loadavg start/end:", out["machine"]["loadavg_start"], out["machine"]["loadavg_end"])


if __name__ == "__main__":
    main()
