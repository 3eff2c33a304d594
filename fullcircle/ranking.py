"""The one definition of the top-k ranking metrics: the model's holdout gate and the
evaluation lab's protocols both score rankings with these."""

from __future__ import annotations

import numpy as np


def ndcg_at_k(hits: np.ndarray, n_relevant: int, k: int) -> float:
    """Binary NDCG@k of a ranking whose top positions are flagged in `hits` (best first); the
    ideal DCG counts min(k, n_relevant) hits, so relevant items no ranking reached count too."""
    if n_relevant <= 0:
        raise ValueError("NDCG is undefined without relevant items")
    top = np.asarray(hits[:k], dtype=np.float64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = float(top @ discounts[: top.size])
    ideal = float(discounts[: min(k, n_relevant)].sum())
    return dcg / ideal


def recall_at_k(hits: np.ndarray, n_relevant: int, k: int) -> float:
    """Recall@k: relevant items in the top k over all relevant items."""
    if n_relevant <= 0:
        raise ValueError("recall is undefined without relevant items")
    return float(np.count_nonzero(hits[:k])) / n_relevant
