"""Benefit labelers behind one interface (`Labeler`): `judge`, `gain`, `likelihood`.

    labeler = make_labeler(recipe)             # cheap: checks the endpoint / tokenizer, loads no weights
    labeler.run(pairs, cache, report)          # computes what the cache lacks, appends as it goes
    labeler.value(query_id, demo_id, cache)    # the label value of a pair (None: not labelled)
"""

from __future__ import annotations

from rarft_eval.training.labelers.base import Labeler, Pair


def make_labeler(recipe) -> Labeler:
    if recipe.labeler == "judge":
        from rarft_eval.training.labelers.judge import JudgeLabeler

        return JudgeLabeler(recipe.judge)
    if recipe.labeler == "gain":
        from rarft_eval.training.labelers.gain import GainLabeler

        return GainLabeler(recipe.gain, recipe.prompt)
    from rarft_eval.training.labelers.likelihood import LikelihoodLabeler

    return LikelihoodLabeler(recipe.likelihood, recipe.prompt)


__all__ = ["Labeler", "Pair", "make_labeler"]
