"""Inference: the LWL tracker (search-region crops, memory, learner updates, multi-object merging)."""
