"""Shared pieces of the evaluation protocols: ranking with deterministic ties, a paired
per-cutoff comparison of two methods, and the plain-text result tables (the metrics are the
kernel's, fullcircle/ranking.py).

The paired comparison exists because protocol means over a handful of cutoffs are noisy: a
method "beating" another by less than the standard error of their per-cutoff differences has
not shown anything, and the tables say so next to the means."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


def rank_by_score(scores: np.ndarray, tie_order: np.ndarray) -> np.ndarray:
    """Positions into `scores`, best first; equal scores go by ascending `tie_order`."""
    return np.lexsort((tie_order, -np.asarray(scores, dtype=np.float64)))


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


@dataclass(frozen=True)
class PairedDifference:
    """Per-cutoff differences a - b of one metric: mean, its standard error, and the tally."""

    mean: float
    standard_error: float
    wins: int
    ties: int
    losses: int

    def describe(self) -> str:
        """One line, e.g. "+0.0055 +- 0.0120 (4 better, 6 equal, 2 worse)"."""
        return (
            f"{self.mean:+.4f} +- {self.standard_error:.4f} "
            f"({self.wins} better, {self.ties} equal, {self.losses} worse)"
        )


def paired_difference(
    a: Sequence[float], b: Sequence[float], tolerance: float = 1e-9
) -> PairedDifference:
    """Compare two methods cutoff by cutoff; differences within `tolerance` count as equal.

    The standard error is the sample standard deviation of the differences over sqrt(n)
    (0 for fewer than two cutoffs).
    """
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if diff.size == 0:
        return PairedDifference(0.0, 0.0, 0, 0, 0)
    error = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else 0.0
    return PairedDifference(
        mean=float(diff.mean()),
        standard_error=error,
        wins=int((diff > tolerance).sum()),
        ties=int((np.abs(diff) <= tolerance).sum()),
        losses=int((diff < -tolerance).sum()),
    )


def format_cutoff_table(
    cutoffs: Sequence[str], per_cutoff: Mapping[str, Sequence[float]], metric_name: str
) -> str:
    """Cutoffs as rows, methods as columns, one metric's value at each cutoff."""
    names = list(per_cutoff)
    widths = [max(10, len(name)) for name in names]
    header = "cutoff".ljust(10) + "".join(
        f"  {name:>{width}}" for name, width in zip(names, widths, strict=True)
    )
    lines = [f"{metric_name} per cutoff", header, "-" * len(header)]
    for row, cutoff in enumerate(cutoffs):
        values = "".join(
            f"  {per_cutoff[name][row]:>{width}.4f}"
            for name, width in zip(names, widths, strict=True)
        )
        lines.append(cutoff.ljust(10) + values)
    return "\n".join(lines)
