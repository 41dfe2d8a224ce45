"""Retrievers choose the demonstrations prepended to each problem.

The interface is `Retriever.retrieve(problems, k) -> list[list[Demonstration]]` plus a
`manifest()` written into each run's config. This issue ships `none`; bm25, semantic, benefit
and oracle retrievers plug in behind the same interface.
"""

from rarft_eval.retrieval.base import Demonstration, NoRetriever, Retriever, make_retriever

__all__ = ["Demonstration", "NoRetriever", "Retriever", "make_retriever"]
