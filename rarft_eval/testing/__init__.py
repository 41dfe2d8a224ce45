"""Test helpers: a tiny locally built model for smoke runs and the test suite."""

__all__ = ["build_tiny_model", "default_tiny_model_dir", "ensure_tiny_model"]


def __getattr__(name: str):
    # Lazy, so `python -m rarft_eval.testing.tiny_model` does not import the module twice.
    if name in __all__:
        from rarft_eval.testing import tiny_model

        return getattr(tiny_model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
