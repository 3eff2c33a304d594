"""Shared pieces of the evaluation protocols: ranking with deterministic ties, top-k metrics,
and the plain-text result table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def rank_by_score(scores: np.ndarray, tie_order: np.ndarray) -> np.ndarray:
    """Positions into `scores`, best first; equal scores go by ascending `tie_order`."""
    return np.lexsort((tie_order, -np.asarray(scores, dtype=np.float64)))


def ndcg_at_k(hits: np.ndarray, n_relevant: int, k: int) -> float:
    """Binary NDCG@k of a ranking whose top positions are flagged in `hits` (best first)."""
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


def format_metric_table(
    methods: Mapping[str, Mapping[str, float]],
    metric_names: Sequence[str],
    marks: Mapping[str, str] | None = None,
) -> str:
    """Methods as rows, metrics as columns; `marks` adds a note after a method's row."""
    marks = marks or {}
    name_width = max([len("method"), *(len(name) for name in methods)])
    header = "method".ljust(name_width) + "".join(f"  {m:>10}" for m in metric_names)
    lines = [header, "-" * len(header)]
    for name, metrics in methods.items():
        row = name.ljust(name_width) + "".join(f"  {metrics[m]:>10.4f}" for m in metric_names)
        if name in marks:
            row += f"  {marks[name]}"
        lines.append(row)
    return "\n".join(lines)
