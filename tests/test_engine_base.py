from rarft_eval.engines.base import GenerationRequest, contiguous_blocks, derive_seed


def test_contiguous_blocks_group_missing_sample_indices():
    assert contiguous_blocks([0, 1, 2, 5, 6, 9]) == [(0, 3), (5, 2), (9, 1)]
    assert contiguous_blocks([]) == []
    assert contiguous_blocks([3, 1, 2]) == [(1, 3)]


def test_seeds_are_stable_and_distinct_per_run_task_and_problem():
    a = derive_seed(0, "aime25", "3")
    assert a == derive_seed(0, "aime25", "3")
    assert len({a, derive_seed(1, "aime25", "3"), derive_seed(0, "aime24", "3"), derive_seed(0, "aime25", "4")}) == 4
    assert 0 <= a < 2**30


def test_a_block_starting_mid_problem_uses_the_seed_that_sample_would_have_had():
    req = GenerationRequest(("t", "p"), "prompt", first_index=5, n=3, base_seed=1000)
    assert req.seed == 1005 and list(req.sample_indices) == [5, 6, 7]
