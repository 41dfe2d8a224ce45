"""The training side of rarft-eval: RA-RFT checkpoints from benefit labels, a retriever and GRPO.

Stages (one CLI, `rarft-train <stage> --config training/<recipe>.yaml`, see docs/training.md):

1. `labels`      benefit labels for (training query, candidate demonstration) pairs: `judge` (an LLM
                 judge on any OpenAI-compatible endpoint), `gain` (policy accuracy with minus without
                 the demonstration, m rollouts each) or `likelihood` (log p(gold | demo, query) minus
                 log p(gold | query)); cached on disk and resumable (`labels.py`, `labelers/`).
2. `retriever`   InfoNCE fine-tuning of a sentence-transformers bi-encoder on the positives, best
                 held-out recall@1 kept, written where `--retriever benefit:CHECKPOINT` loads it
                 (`retriever_train.py`).
3. `grpo`        TRL's GRPOTrainer with the frozen retriever's top-1 demonstration prepended to every
                 prompt (the evaluation's own prompt builder) and the harness's grader as the reward;
                 the GRPO baseline is the same recipe with `--retriever none` (`grpo.py`, `reward.py`).
4. `export-verl` verl-ready Parquet of the same prompts plus `verl_reward.compute_score`, for runs at
                 the paper's scale (`verl_export.py`, `verl_reward.py`).
"""
