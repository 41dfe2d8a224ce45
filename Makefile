# The two commands of the README quick start:
#   make demo   set up, then run the main job on the embedded default model
#   make test   set up, then run the test suite (what CI runs)
.PHONY: setup demo test test-fast bench

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/rarft-eval --tasks aime25 -k 4 --limit 5 --max-tokens 256

test: setup
	.venv/bin/python -m pytest -q

test-fast: setup
	.venv/bin/python -m pytest -q -m "not slow"

bench: setup
	.venv/bin/python benchmarks/overhead.py
