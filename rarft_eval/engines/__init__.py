"""Inference engines behind one interface: vLLM (default), transformers, OpenAI-compatible servers."""

from rarft_eval.engines.base import ENGINES, Completion, Engine, GenerationRequest, derive_seed, make_engine

__all__ = ["ENGINES", "Completion", "Engine", "GenerationRequest", "derive_seed", "make_engine"]
