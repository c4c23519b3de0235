"""Tests of pacslab.metrics against brute force and hand-computed values."""

import doctest
import itertools
import json
import math
import os
import random
from fractions import Fraction
from pathlib import Path

import pytest
import torch

import pacslab.metrics
from pacslab.metrics import (
    critic_metrics,
    expected_calibration_error,
    pass_at_k,
    reliability_bins,
    roc_auc,
    token_entropy,
)


def test_doctests():
    result = doctest.testmod(pacslab.metrics)
    assert result.attempted >= 5 and result.failed == 0


def brute_force_auc(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(20))
def test_auc_matches_pairwise_count_with_ties(seed):
    rng = random.Random(seed)
    size = rng.randint(2, 40)
    scores = [rng.choice([-1.0, 0.0, 0.5, 2.0, rng.random()]) for _ in range(size)]  # many ties
    labels = [rng.randint(0, 1) for _ in range(size)]
    labels[0], labels[1] = 0, 1
    assert roc_auc(scores, labels) == pytest.approx(brute_force_auc(scores, labels), abs=1e-12)
    assert roc_auc(torch.tensor(scores), torch.tensor(labels)) == pytest.approx(brute_force_auc(scores, labels), abs=1e-12)


def test_auc_extremes_and_single_class():
    assert roc_auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert roc_auc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
    assert roc_auc([5, 5, 5, 5], [0, 1, 0, 1]) == 0.5
    assert roc_auc([float("-inf"), float("inf")], [0, 1]) == 1.0
    assert roc_auc([0.1, 0.9], [1, 1]) is None
    assert roc_auc([0.1, 0.9], [0, 0]) is None
    assert roc_auc([], []) is None


def test_auc_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([float("nan"), 1.0], [0, 1])
    with pytest.raises(ValueError, match="2 scores but 3 labels"):
        roc_auc([0.1, 0.2], [0, 1, 1])
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        roc_auc([0.1, 0.2], [0, 2])


def test_ece_by_hand():
    probs = [0.05, 0.15, 0.15, 0.62, 0.68, 1.0]
    labels = [0, 1, 0, 1, 1, 1]
    # bin 0: p 0.05, acc 0 → |0 − 0.05|·1/6; bin 1: mean p 0.15, acc 0.5 → 0.35·2/6;
    # bin 6: mean p 0.65, acc 1 → 0.35·2/6; bin 9: p 1.0, acc 1 → 0
    expected = 0.05 / 6 + 0.35 * 2 / 6 + 0.35 * 2 / 6
    assert expected_calibration_error(probs, labels) == pytest.approx(expected, abs=1e-12)
    assert expected_calibration_error([0.0, 1.0], [0, 1]) == 0.0
    assert expected_calibration_error([1.0, 0.0], [0, 1]) == 1.0
    # one bin: |mean p − accuracy|
    assert expected_calibration_error(probs, labels, n_bins=1) == pytest.approx(abs(sum(probs) / 6 - 4 / 6))


def test_reliability_bins_by_hand():
    bins = reliability_bins(torch.tensor([0.05, 0.15, 0.15, 0.62, 0.68, 1.0]), torch.tensor([0, 1, 0, 1, 1, 1]))
    assert [b["count"] for b in bins] == [1, 2, 0, 0, 0, 0, 2, 0, 0, 1]
    assert bins[1]["lo"] == pytest.approx(0.1) and bins[1]["hi"] == pytest.approx(0.2)
    assert bins[1]["confidence"] == pytest.approx(0.15) and bins[1]["accuracy"] == 0.5
    assert bins[2]["confidence"] is None and bins[2]["accuracy"] is None
    assert bins[9]["confidence"] == 1.0 and bins[9]["accuracy"] == 1.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reliability_bins([1.5], [1])
    assert expected_calibration_error([], []) is None
    assert expected_calibration_error([float("nan")], [1]) is None, "a NaN probability is left out"


PARITY_FILE = Path(__file__).resolve().parents[2] / "test" / "unit" / "fixtures" / "reliability-parity.json"


def parity_cases() -> list[dict]:
    """Inputs on which metrics.py and the dashboard's charts.ts must agree: bin edges, p = 0 and 1,
    empty bins, NaN, no samples, several bin counts, and a seeded random sample."""
    rng = random.Random(12)
    probs = [rng.random() for _ in range(200)]
    edges = [b / 10 for b in range(11)]
    return [
        {"name": "by hand", "probs": [0.05, 0.15, 0.15, 0.62, 0.68, 1.0], "labels": [0, 1, 0, 1, 1, 1], "n_bins": 10},
        {"name": "bin edges", "probs": edges, "labels": [b % 2 for b in range(11)], "n_bins": 10},
        {"name": "NaN left out", "probs": [0.2, math.nan, 0.9, math.nan], "labels": [0, 1, 1, 0], "n_bins": 10},
        {"name": "only NaN", "probs": [math.nan], "labels": [1], "n_bins": 10},
        {"name": "no samples", "probs": [], "labels": [], "n_bins": 10},
        {"name": "one bin", "probs": [0.0, 0.3, 1.0], "labels": [0, 1, 1], "n_bins": 1},
        {"name": "random, 7 bins", "probs": probs, "labels": [int(rng.random() < p) for p in probs], "n_bins": 7},
        {"name": "random, 15 bins", "probs": probs, "labels": [int(rng.random() < 0.5) for _ in probs], "n_bins": 15},
    ]


def parity_fixture() -> str:
    cases = []
    for case in parity_cases():
        probs, labels, n = case["probs"], case["labels"], case["n_bins"]
        cases.append({**case, "probs": [None if math.isnan(p) else p for p in probs],  # JSON has no NaN
                      "bins": reliability_bins(probs, labels, n), "ece": expected_calibration_error(probs, labels, n)})
    note = "Written by trainer/tests/test_metrics.py (PACS_UPDATE_FIXTURES=1); read by test/unit/webview/charts.test.ts. null probs are NaN."
    return json.dumps({"note": note, "cases": cases}, indent=1, allow_nan=False) + "\n"


def test_reliability_parity_fixture_is_current():
    expected = parity_fixture()
    if os.environ.get("PACS_UPDATE_FIXTURES") == "1":
        PARITY_FILE.write_text(expected)
    assert PARITY_FILE.exists() and PARITY_FILE.read_text() == expected, (
        f"{PARITY_FILE} does not hold metrics.py's current results: regenerate it with "
        "`PACS_UPDATE_FIXTURES=1 pytest tests/test_metrics.py -k parity` and commit it "
        "(test/unit/webview/charts.test.ts then checks the dashboard against it)")


def test_critic_metrics_by_hand():
    # group 0 mixed, group 1 all correct, group 2 mixed with a tie
    psi = torch.tensor([2.0, -1.0, 0.5, -3.0, 1.0, 1.0, -0.5, 0.0, 0.0, 0.0, 4.0, -2.0])
    labels = torch.tensor([1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0])
    m = critic_metrics(psi, labels, rollout_n=4)
    mixed = [0, 1, 2, 3, 8, 9, 10, 11]
    assert m["critic/auc"] == pytest.approx(brute_force_auc(psi[mixed].tolist(), labels[mixed].tolist()))
    prob = torch.sigmoid(psi)
    assert m["critic/ece"] == pytest.approx(expected_calibration_error(prob, labels))
    # σ > 0.5 ⇔ ψ > 0: right on rows 0, 1, 4, 5, 9, 10, 11 (ψ = 0 predicts 0)
    assert m["critic/accuracy"] == pytest.approx(7 / 12)
    assert m["critic/psi_pos_mean"] == pytest.approx(psi[labels == 1].mean().item())
    assert m["critic/psi_neg_mean"] == pytest.approx(psi[labels == 0].mean().item())


def test_critic_metrics_without_mixed_groups_or_with_nan():
    m = critic_metrics(torch.tensor([1.0, 2.0, -1.0, -2.0]), torch.tensor([1, 1, 0, 0]), rollout_n=2)
    assert m["critic/auc"] is None
    assert m["critic/accuracy"] == 1.0
    m = critic_metrics(torch.tensor([1.0, -1.0]), torch.tensor([1, 1]), rollout_n=2)
    assert m["critic/psi_neg_mean"] is None and m["critic/psi_pos_mean"] == 0.0
    m = critic_metrics(torch.tensor([float("nan"), 1.0]), torch.tensor([1, 0]), rollout_n=2)
    assert set(m) == {"critic/auc", "critic/ece", "critic/accuracy", "critic/psi_pos_mean", "critic/psi_neg_mean"}
    assert all(v is None for v in m.values())
    with pytest.raises(ValueError, match="rollout_n = 4"):
        critic_metrics(torch.zeros(6), torch.zeros(6), rollout_n=4)


def brute_force_pass_at_k(m, c, k):
    samples = [1] * c + [0] * (m - c)
    draws = list(itertools.combinations(range(m), k))
    return sum(any(samples[i] for i in draw) for draw in draws) / len(draws)


@pytest.mark.parametrize("m", range(1, 9))
def test_pass_at_k_matches_enumeration(m):
    for c in range(m + 1):
        for k in range(1, m + 1):
            assert pass_at_k(m, c, k) == pytest.approx(brute_force_pass_at_k(m, c, k), abs=1e-12), (m, c, k)


def test_pass_at_k_large_and_invalid():
    assert pass_at_k(1000, 1, 1) == pytest.approx(0.001)
    assert pass_at_k(256, 3, 128) == pytest.approx(1 - math.comb(253, 128) / math.comb(256, 128), rel=1e-12)
    # C(2000, 100) overflows a float: the product form does not need it
    exact = 1 - Fraction(math.comb(1990, 100), math.comb(2000, 100))
    assert pass_at_k(2000, 10, 100) == pytest.approx(float(exact), rel=1e-12)
    with pytest.raises(ValueError, match="k=9 must lie in 1..m=8"):
        pass_at_k(8, 2, 9)
    with pytest.raises(ValueError, match="k=0"):
        pass_at_k(8, 2, 0)
    with pytest.raises(ValueError, match="c=9"):
        pass_at_k(8, 9, 1)
    with pytest.raises(ValueError, match="integers"):
        pass_at_k(8.0, 2, 1)


def test_token_entropy_by_hand():
    logits = torch.zeros(2, 3, 4)
    logits[0, 1] = torch.tensor([0.0, float("-inf"), float("-inf"), float("-inf")])  # one-hot: entropy 0
    logits[1, 0] = torch.tensor([1e4, 0.0, 0.0, 0.0])  # nearly one-hot
    logits[1, 2] = float("nan")  # padding may hold anything
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    # real tokens: uniform over 4 (ln 4), one-hot (0), nearly one-hot (≈ 0)
    assert token_entropy(logits, mask) == pytest.approx(math.log(4) / 3, rel=1e-6)
    assert token_entropy(logits.bfloat16(), mask) == pytest.approx(math.log(4) / 3, rel=1e-3)
    with pytest.raises(ValueError, match="no tokens"):
        token_entropy(logits, torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\[B, T, V\]"):
        token_entropy(logits[0], mask)
