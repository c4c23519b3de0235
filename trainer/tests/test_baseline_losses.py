"""Tests of the baseline losses of pacslab.losses (GRPO, RLOO, Dr. GRPO) on hand-built tensors."""

import itertools
import math

import pytest
import torch

from loss_batches import F64, hand_batch, make_batch
from pacslab.losses import dr_grpo_loss, grpo_advantages, grpo_loss, pacs_scores, rloo_advantages, rloo_loss


# ---------- GRPO ----------

def test_grpo_advantages_by_hand():
    adv = grpo_advantages(torch.tensor([1, 0, 0, 0, 1, 1, 1, 1]), rollout_n=4)
    std = math.sqrt(0.75 / 3) + 1e-6  # labels (1,0,0,0): mean 0.25, Σ(x−mean)² = 0.75
    torch.testing.assert_close(adv, torch.tensor([0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0]) / std)


def test_grpo_ratio_one_is_minus_token_mean_advantage():
    logp, _, mask, labels = make_batch(seed=8)
    loss, m = grpo_loss(logp, logp.clone(), mask, labels, rollout_n=4)
    adv = grpo_advantages(labels, rollout_n=4)
    expected = -(adv[:, None] * mask).sum() / mask.sum()
    torch.testing.assert_close(loss, expected)
    assert m["grpo/clip_frac"] == 0.0
    assert "grpo/kl" not in m


def test_grpo_clipping_by_hand():
    a = 1 / (math.sqrt(0.5) + 1e-6)  # labels (1, 0): A = ±0.5 / std, std = √0.5
    ratios = torch.tensor([[1.5, 0.5], [1.5, 0.5]], dtype=F64)
    old = torch.zeros(2, 2, dtype=F64) - 1.0
    logp = (old + ratios.log()).requires_grad_(True)
    mask = torch.ones(2, 2, dtype=F64)
    loss, m = grpo_loss(logp, old, mask, torch.tensor([1.0, 0.0], dtype=F64), rollout_n=2, clip_eps=0.2)
    a = 0.5 * a
    # per token min(r·A, clip(r)·A): (1.2a, 0.5a) for A = +a; (−1.5a, −0.8a) for A = −a
    assert loss.item() == pytest.approx(-(1.2 + 0.5 - 1.5 - 0.8) * a / 4, rel=1e-12)
    assert m["grpo/clip_frac"] == 0.5
    (grad,) = torch.autograd.grad(loss, logp)
    # clipped tokens get no gradient; the others get −r·A/4
    torch.testing.assert_close(grad, torch.tensor([[0.0, -0.5 * a / 4], [1.5 * a / 4, 0.0]], dtype=F64))


def test_grpo_kl_term():
    logp, old, mask, labels = make_batch(seed=9, garbage=False)
    base, _ = grpo_loss(logp, old, mask, labels, rollout_n=4)
    same, m = grpo_loss(logp, old, mask, labels, rollout_n=4, ref_logp=logp.clone(), kl_coef=0.5)
    assert m["grpo/kl"] == 0.0
    torch.testing.assert_close(same, base)

    ref = logp + 0.2 * mask
    with_kl, m = grpo_loss(logp, old, mask, labels, rollout_n=4, ref_logp=ref, kl_coef=0.5)
    k3 = math.exp(0.2) - 0.2 - 1  # every real token has ref − logp = 0.2
    assert m["grpo/kl"] == pytest.approx(k3, rel=1e-12)
    assert with_kl.item() == pytest.approx(base.item() + 0.5 * k3, rel=1e-12)
    assert m["grpo/loss"] == pytest.approx(with_kl.item())
    measured_only, m = grpo_loss(logp, old, mask, labels, rollout_n=4, ref_logp=ref)
    torch.testing.assert_close(measured_only, base)
    assert m["grpo/kl"] == pytest.approx(k3)
    with pytest.raises(ValueError, match="kl_coef = 0.5 needs ref_logp"):
        grpo_loss(logp, old, mask, labels, rollout_n=4, kl_coef=0.5)


# ---------- RLOO ----------

def test_rloo_advantages_by_hand():
    adv = rloo_advantages(torch.tensor([1, 0, 0, 1, 0, 0, 0, 0]), rollout_n=4)
    torch.testing.assert_close(adv, torch.tensor([2 / 3, -2 / 3, -2 / 3, 2 / 3, 0, 0, 0, 0]))
    torch.testing.assert_close(rloo_advantages(torch.tensor([1, 0]), rollout_n=2), torch.tensor([1.0, -1.0]))


def test_rloo_loss_by_hand():
    logp, old, mask, _ = hand_batch()
    labels = torch.tensor([1, 0, 0, 1, 1, 1, 1, 1], dtype=F64)
    logp = logp.clone().requires_grad_(True)
    loss, m = rloo_loss(logp, mask, labels, rollout_n=4)
    # Σ_t mask·logp per row of group 0: −0.3, −1.0, −1.5, −0.5; advantages (2/3, −2/3, −2/3, 2/3); group 1: A = 0
    expected = -(2 / 3 * -0.3 - 2 / 3 * -1.0 - 2 / 3 * -1.5 + 2 / 3 * -0.5) / 8
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert m["rloo/loss"] == pytest.approx(expected, rel=1e-12)
    (grad,) = torch.autograd.grad(loss, logp)
    adv = torch.tensor([2 / 3, -2 / 3, -2 / 3, 2 / 3, 0, 0, 0, 0], dtype=F64)
    torch.testing.assert_close(grad, -adv[:, None] * mask / 8)


def test_every_group_estimator_is_zero_sum_within_groups():
    logp, old, mask, labels = make_batch(groups=4, seed=10)
    for est, norm in itertools.product(["rloo", "grpo"], [True, False]):
        _, psi = pacs_scores(logp, old, mask, rollout_n=4, adv_estimator=est, norm_by_std=norm)
        torch.testing.assert_close(psi.reshape(4, 4).sum(dim=1), torch.zeros(4, dtype=F64), atol=1e-12, rtol=0)
    torch.testing.assert_close(rloo_advantages(labels, rollout_n=4).reshape(4, 4).sum(dim=1), torch.zeros(4, dtype=F64))


# ---------- Dr. GRPO ----------

def test_dr_grpo_by_hand():
    """Advantages only centred (no std), each row's token sum over the constant max_new_tokens."""
    old = torch.full((4, 3), -1.0, dtype=F64)
    logp = old.clone().requires_grad_(True)  # ratio 1: the surrogate is −A per real token
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0], [1, 0, 0]], dtype=F64)
    labels = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=F64)  # two groups of 2: (1, 0) and (1, 1)
    loss, m = dr_grpo_loss(logp, old, mask, labels, rollout_n=2, max_new_tokens=5)
    # A = (+0.5, −0.5, 0, 0); token sums: −0.5·3 (row 0) and +0.5·1 (row 1); over N·L_max = 4·5
    assert loss.item() == pytest.approx((-1.5 + 0.5) / 20, rel=1e-12)
    assert m["dr_grpo/loss"] == pytest.approx(loss.item()) and m["dr_grpo/clip_frac"] == 0.0
    (grad,) = torch.autograd.grad(loss, logp)
    # every real token of a row gets the same weight −A_i / (N·L_max), whatever the row's length
    expected = torch.tensor([[-0.5, -0.5, -0.5], [0.5, 0, 0], [0, 0, 0], [0, 0, 0]], dtype=F64) / 20
    torch.testing.assert_close(grad, expected)


def test_dr_grpo_differs_from_grpo_only_by_its_normalisers():
    logp, old_logp, mask, labels = make_batch(seed=12)
    n, L = 4, logp.shape[1]
    centred = grpo_advantages(labels, rollout_n=n, norm_by_std=False)
    dr, _ = dr_grpo_loss(logp, old_logp, mask, labels, rollout_n=n, max_new_tokens=L)
    as_grpo, _ = grpo_loss(logp, old_logp, mask, labels, rollout_n=n, advantages=centred)
    # grpo's token mean × (real tokens) = the token sum; dr_grpo divides that sum by N·L instead
    torch.testing.assert_close(dr * logp.shape[0] * L, as_grpo * mask.sum())
    with pytest.raises(ValueError, match="max_new_tokens"):
        dr_grpo_loss(logp, old_logp, mask, labels, rollout_n=n, max_new_tokens=0)


@pytest.mark.parametrize("name", ["grpo", "rloo"])
def test_row_separable_losses_split_anywhere_with_mini_batch_advantages(name):
    logp, old_logp, mask, labels = make_batch(seed=23)
    n = 4
    ref = logp + 0.1

    def run(leaf, part, adv):
        if name == "grpo":
            return grpo_loss(leaf[part], old_logp[part], mask[part], labels[part], rollout_n=n, ref_logp=ref[part],
                             kl_coef=0.1, advantages=adv)[0]
        return rloo_loss(leaf[part], mask[part], labels[part], rollout_n=n, advantages=adv)[0]

    whole = logp.clone().requires_grad_(True)
    run(whole, slice(0, 12), None).backward()
    adv = (grpo_advantages if name == "grpo" else rloo_advantages)(labels, rollout_n=n)
    leaf, start = logp.clone().requires_grad_(True), 0
    for size in (5, 7):  # split inside group 1; weights: real tokens (grpo) or rows (rloo)
        part = slice(start, start + size)
        share = mask[part].sum() / mask.sum() if name == "grpo" else size / 12
        (run(leaf, part, adv[part]) * share).backward()
        start += size
    assert (leaf.grad - whole.grad).abs().max().item() <= 1e-10
    with pytest.raises(ValueError, match="advantages has shape"):
        run(leaf, slice(0, 4), adv)
