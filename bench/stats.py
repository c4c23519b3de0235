"""Small-sample statistics for benchmark tables: mean ± std with a Student-t 95% interval, and a
paired comparison over seeds. Pure Python (the bench env has no scipy); the t distribution comes
from integrating its density, accurate to well below the digits the tables print.

>>> round(t_quantile(0.975, 4), 3)
2.776
>>> round(two_sided_p(2.776, 4), 3)
0.05
"""

from __future__ import annotations

import math
import statistics


def _t_density(x: float, df: int) -> float:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))


def _t_cdf_upper_half(t: float, df: int, intervals: int = 4000) -> float:
    """P(0 ≤ T ≤ |t|) by Simpson's rule."""
    t, h = abs(t), abs(t) / intervals
    odd = sum(_t_density((2 * i - 1) * h, df) for i in range(1, intervals // 2 + 1))
    even = sum(_t_density(2 * i * h, df) for i in range(1, intervals // 2))
    return h / 3 * (_t_density(0.0, df) + 4 * odd + 2 * even + _t_density(t, df))


def two_sided_p(t: float, df: int) -> float:
    if math.isinf(t):
        return 0.0
    return max(0.0, 1.0 - 2.0 * _t_cdf_upper_half(t, df))


def t_quantile(q: float, df: int) -> float:
    lo, hi = 0.0, 1000.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 0.5 + _t_cdf_upper_half(mid, df) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def summary(xs: list[float]) -> dict:
    """Mean, sample std and the 95% interval of the mean (Student t with n − 1 degrees of freedom)."""
    mean = statistics.fmean(xs)
    std = statistics.stdev(xs) if len(xs) > 1 else 0.0
    half = t_quantile(0.975, len(xs) - 1) * std / math.sqrt(len(xs)) if len(xs) > 1 else 0.0
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "values": xs}


def paired(xs: list[float], ys: list[float]) -> dict:
    """xs − ys seed by seed: the mean difference, its 95% interval, the paired t-test's two-sided p
    and how many seeds xs wins, ties and loses."""
    if len(xs) != len(ys):
        raise ValueError(f"paired comparison needs the same seeds on both sides ({len(xs)} vs {len(ys)})")
    diffs = [x - y for x, y in zip(xs, ys)]
    cell = summary(diffs)
    n = len(diffs)
    if n < 2:
        t, p = math.nan, math.nan
    elif cell["std"] == 0:
        t = math.copysign(math.inf, cell["mean"]) if cell["mean"] else 0.0
        p = 1.0 if cell["mean"] == 0 else 0.0
    else:
        t = cell["mean"] / (cell["std"] / math.sqrt(n))
        p = two_sided_p(t, n - 1)
    return {"diff": cell, "t": t, "p": p,
            "wins": sum(d > 0 for d in diffs), "ties": sum(d == 0 for d in diffs), "losses": sum(d < 0 for d in diffs)}
