"""Evaluation and implicit-critic metrics: pure functions of scores, labels and counts.

Inputs may be tensors (any dtype or device) or sequences of numbers; results are plain Python
floats (or None where a metric is undefined) ready for a `metrics` event.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import torch
from torch import Tensor

Numbers = Tensor | Sequence[float]


def _floats(x: Numbers) -> list[float]:
    if isinstance(x, Tensor):
        return x.detach().to("cpu", torch.float64).reshape(-1).tolist()
    return [float(v) for v in x]


def _pairs(scores: Numbers, labels: Numbers) -> tuple[list[float], list[int]]:
    s, y = _floats(scores), _floats(labels)
    if len(s) != len(y):
        raise ValueError(f"{len(s)} scores but {len(y)} labels")
    if any(v not in (0.0, 1.0) for v in y):
        raise ValueError(f"labels must be 0 or 1; got {sorted(set(y))}")
    return s, [int(v) for v in y]


def _average_ranks(values: list[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def roc_auc(scores: Numbers, labels: Numbers) -> float | None:
    """ROC-AUC: the probability that a random positive scores above a random negative, ties
    counting 1/2 (Mann–Whitney U with averaged ranks). None when only one class is present.

    >>> roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    >>> roc_auc([1.0, 1.0], [0, 1])
    0.5
    >>> roc_auc([0.3, 0.7], [1, 1]) is None
    True
    """
    s, y = _pairs(scores, labels)
    if any(math.isnan(v) for v in s):
        raise ValueError("scores contain NaN; ROC-AUC is undefined")
    n_pos = sum(y)
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _average_ranks(s)
    rank_sum = sum(r for r, label in zip(ranks, y) if label == 1)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def reliability_bins(probs: Numbers, labels: Numbers, n_bins: int = 10) -> list[dict]:
    """Equal-width bins over [0, 1] (a probability of exactly 1 falls in the last bin); each bin is
    {lo, hi, count, confidence, accuracy}: the mean probability and the share of label 1 of its
    samples, both None for an empty bin. A probability that is not finite (NaN from a diverged
    step) is left out of every bin. The dashboard's `reliability` (src/core/charts.ts) gives the
    same numbers: test/unit/fixtures/reliability-parity.json holds both sides' cases.

    >>> [b["count"] for b in reliability_bins([0.05, 0.5, 0.55, 1.0, float("nan")], [0, 1, 0, 1, 1], n_bins=2)]
    [1, 3]
    """
    p, y = _pairs(probs, labels)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1; got {n_bins}")
    kept = [i for i, v in enumerate(p) if math.isfinite(v)]
    if any(not 0.0 <= p[i] <= 1.0 for i in kept):
        raise ValueError("probabilities must lie in [0, 1]")
    members: list[list[int]] = [[] for _ in range(n_bins)]
    for i in kept:
        members[min(int(p[i] * n_bins), n_bins - 1)].append(i)
    bins = []
    for b, idx in enumerate(members):
        count = len(idx)
        bins.append({
            "lo": b / n_bins,
            "hi": (b + 1) / n_bins,
            "count": count,
            "confidence": sum(p[i] for i in idx) / count if count else None,
            "accuracy": sum(y[i] for i in idx) / count if count else None,
        })
    return bins


def expected_calibration_error(probs: Numbers, labels: Numbers, n_bins: int = 10) -> float | None:
    """ECE = Σ_b (count_b / N) · |accuracy_b − confidence_b| over the bins of `reliability_bins`,
    N the samples binned; None when there is none (no samples, or only NaN probabilities).

    >>> round(expected_calibration_error([0.2, 0.2, 0.9, 0.9], [0, 1, 1, 1], n_bins=10), 6)
    0.2
    >>> expected_calibration_error([], []) is None
    True
    """
    bins = reliability_bins(probs, labels, n_bins)
    total = sum(b["count"] for b in bins)
    if total == 0:
        return None
    return sum(b["count"] / total * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"])


def critic_metrics(psi_post: Tensor, labels: Tensor, *, rollout_n: int) -> dict[str, float | None]:
    """How well the implicit critic σ(ψ_post) predicts the labels after a step's updates.

    - `critic/auc`: ROC-AUC of ψ_post against R over the groups holding both labels (None if none);
    - `critic/ece`: calibration error of σ(ψ_post), 10 equal-width bins, all samples;
    - `critic/accuracy`: share of samples with (σ(ψ_post) > 0.5) == R;
    - `critic/psi_pos_mean`, `critic/psi_neg_mean`: mean ψ_post over R = 1 / R = 0 (None if no such sample).

    A ψ_post holding NaN (a diverged step) gives None for every metric.
    """
    psi = psi_post.detach().to("cpu", torch.float64).reshape(-1)  # [B]
    r = labels.detach().to("cpu", torch.float64).reshape(-1)  # [B]
    if psi.shape != r.shape or psi.numel() == 0 or psi.numel() % rollout_n != 0:
        raise ValueError(f"psi_post has {psi.numel()} rows and labels {r.numel()}; "
                         f"both must be the same whole number of groups of rollout_n = {rollout_n}")
    names = ("critic/auc", "critic/ece", "critic/accuracy", "critic/psi_pos_mean", "critic/psi_neg_mean")
    if torch.isnan(psi).any():
        return dict.fromkeys(names)
    positives = r.reshape(-1, rollout_n).sum(dim=1)  # [G]
    mixed_rows = ((positives > 0) & (positives < rollout_n)).repeat_interleave(rollout_n)  # [B]
    prob = torch.sigmoid(psi)  # [B]
    pos, neg = psi[r == 1], psi[r == 0]
    return {
        "critic/auc": roc_auc(psi[mixed_rows], r[mixed_rows]) if mixed_rows.any() else None,
        "critic/ece": expected_calibration_error(prob, r),
        "critic/accuracy": ((prob > 0.5).to(r.dtype) == r).double().mean().item(),
        "critic/psi_pos_mean": pos.mean().item() if pos.numel() else None,
        "critic/psi_neg_mean": neg.mean().item() if neg.numel() else None,
    }


def pass_at_k(m: int, c: int, k: int) -> float:
    """Unbiased pass@k from m samples of which c are correct: 1 − C(m−c, k)/C(m, k), computed as
    1 − Π_{i=m−c+1}^{m} (1 − k/i), which neither overflows nor loses precision for large m.

    >>> pass_at_k(8, 0, 1), pass_at_k(8, 8, 8), pass_at_k(4, 1, 2)
    (0.0, 1.0, 0.5)
    """
    try:
        m, c, k = operator.index(m), operator.index(c), operator.index(k)
    except TypeError:
        raise ValueError(f"m, c and k must be integers; got m={m!r}, c={c!r}, k={k!r}") from None
    if not 0 <= c <= m:
        raise ValueError(f"correct count c={c} must lie in 0..m={m}")
    if not 1 <= k <= m:
        raise ValueError(f"k={k} must lie in 1..m={m} (eval.k larger than eval.samples?)")
    if m - c < k:
        return 1.0
    miss = 1.0
    for i in range(m - c + 1, m + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def token_entropy(logits: Tensor, mask: Tensor) -> float:
    """Mean entropy (nats) of the next-token distributions at real tokens. logits [B, T, V], mask [B, T].

    Computed in float32 or wider; padded positions may hold anything.
    """
    if logits.dim() != 3 or mask.shape != logits.shape[:2]:
        raise ValueError(f"logits must be [B, T, V] and mask [B, T]; got {tuple(logits.shape)} and {tuple(mask.shape)}")
    real = mask.bool()  # [B, T]
    if not real.any():
        raise ValueError("mask selects no tokens: entropy is undefined")
    probs = torch.softmax(logits[real].to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)  # [K, V]
    return torch.special.entr(probs).sum(dim=-1).mean().item()
