"""The batches the loss tests share: random right-padded ones with garbage at padded positions, and
a tiny one whose values are computed by hand in the tests."""

import torch

F64 = torch.float64
ESTIMATORS = [("rloo", True), ("grpo", True), ("grpo", False), ("naive", True)]
WEIGHT_MODES = ["question", "only_positive", "only_negative", "none"]
REWARD_METHODS = ["logratio", "mean_logp"]


def make_batch(groups=3, n=4, t=6, seed=0, garbage=True):
    """Random right-padded batch; padded positions hold garbage unless garbage=False (then 0)."""
    g = torch.Generator().manual_seed(seed)
    b = groups * n
    logp = -3 * torch.rand(b, t, generator=g, dtype=F64)
    old_logp = logp + 0.3 * torch.randn(b, t, generator=g, dtype=F64)
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    lengths[0] = t  # at least one row without padding
    mask = (torch.arange(t) < lengths[:, None]).to(F64)
    if garbage:
        logp = torch.where(mask.bool(), logp, 50 * torch.randn(b, t, generator=g, dtype=F64))
        old_logp = torch.where(mask.bool(), old_logp, 50 * torch.randn(b, t, generator=g, dtype=F64))
    else:
        logp, old_logp = logp * mask, old_logp * mask
    # groups: mixed, all correct, all wrong, then mixed again
    patterns = [[1, 0, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 1, 1, 1]]
    labels = torch.tensor([patterns[k % len(patterns)][i % 4] for k in range(groups) for i in range(n)], dtype=F64)
    return logp, old_logp, mask, labels


def options(estimator, norm, reward_method, weight_mode=None, beta=1.3):
    opts = dict(beta=beta, reward_method=reward_method, adv_estimator=estimator, norm_by_std=norm)
    if weight_mode is not None:
        opts["weight_mode"] = weight_mode
    return opts


PAD = 7.0  # garbage at padded positions


def hand_batch():
    # group 0: sums of (logp - old_logp) over real tokens are 0.4, -0.2, 0.1, 0.5; group 1: all 0
    logp = torch.tensor([[-0.1, -0.2, PAD], [-1.0, PAD, PAD], [-0.5, -0.5, -0.5], [-0.5, PAD, PAD],
                         [-0.2, PAD, PAD], [-0.3, -0.3, PAD], [-0.4, PAD, PAD], [-0.1, -0.1, -0.1]], dtype=F64)
    old = torch.tensor([[-0.3, -0.4, -PAD], [-0.8, -PAD, PAD], [-0.6, -0.5, -0.5], [-1.0, PAD, -PAD],
                        [-0.2, PAD, PAD], [-0.3, -0.3, PAD], [-0.4, PAD, PAD], [-0.1, -0.1, -0.1]], dtype=F64)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 0, 0],
                         [1, 0, 0], [1, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=F64)
    labels = torch.tensor([1, 0, 0, 0, 1, 1, 1, 1], dtype=F64)
    return logp, old, mask, labels
