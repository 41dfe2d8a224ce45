"""rarft-eval: evaluate, ablate and train LLMs for competition-math reasoning with retrieval-augmented prompting."""

__version__ = "0.1.0"
