# The two commands of the README quick start:
#   make demo   set up, then run the main job on the embedded default model
#   make test   set up, then run the test suite (what CI runs)
.PHONY: setup demo test test-fast bench

setup:
	@bash scripts/setup.sh

# the retriever ablation on the micro world with the shipped micro policy (docs/micro.md); CPU, no download
MICRO_RETRIEVERS = none,random,bm25,semantic,benefit:models/micro/retriever,oracle:tasks/data/micro/same_procedure.jsonl
demo: setup
	.venv/bin/rarft-eval ablate --tasks micro -k 4 --retrievers $(MICRO_RETRIEVERS) --results-dir results/demo

test: setup
	.venv/bin/python -m pytest -q

test-fast: setup
	.venv/bin/python -m pytest -q -m "not slow"

bench: setup
	.venv/bin/python benchmarks/overhead.py
