"""Tests of pacslab.losses on hand-built tensors (float64 unless a test is about dtypes)."""

import math

import pytest
import torch

from loss_batches import ESTIMATORS, F64, REWARD_METHODS, WEIGHT_MODES, hand_batch, make_batch, options
from pacslab.losses import grpo_loss, pacs_bce, pacs_loss, pacs_rhat, pacs_rhat_gradient, pacs_scores, pacs_weights, rloo_loss

# ---------- the gradient identity of the algorithm doc ----------


@pytest.mark.parametrize("estimator,norm", ESTIMATORS)
@pytest.mark.parametrize("weight_mode", WEIGHT_MODES)
@pytest.mark.parametrize("reward_method", REWARD_METHODS)
def test_dloss_dpsi_is_weight_times_error(estimator, norm, weight_mode, reward_method):
    logp, old_logp, mask, labels = make_batch(seed=1)
    n, N = 4, logp.shape[0]
    logp.requires_grad_(True)
    loss, _ = pacs_loss(logp, old_logp, mask, labels, rollout_n=n, **options(estimator, norm, reward_method, weight_mode))
    (grad_logp,) = torch.autograd.grad(loss, logp)

    scores = lambda lp: pacs_scores(lp, old_logp, mask, rollout_n=n, **options(estimator, norm, reward_method))[1]
    psi = scores(logp).detach().requires_grad_(True)
    w = pacs_weights(labels, rollout_n=n, weight_mode=weight_mode)
    expected_dpsi = w / N * (torch.sigmoid(psi) - labels)  # [B]

    # dL/dψ with ψ as a leaf
    (grad_psi,) = torch.autograd.grad(pacs_bce(psi, labels, w), psi)
    torch.testing.assert_close(grad_psi, expected_dpsi.detach(), rtol=1e-12, atol=1e-14)
    # and the full loss, by the chain rule through the Jacobian of ψ with respect to logp
    jac = torch.autograd.functional.jacobian(scores, logp.detach())  # [B, B, T]
    torch.testing.assert_close(grad_logp, torch.einsum("i,ibt->bt", expected_dpsi.detach(), jac), rtol=1e-10, atol=1e-14)
    assert grad_logp.abs().sum() > 0


def test_closed_form_gradient_logratio_rloo():
    logp, old_logp, mask, labels = make_batch(groups=4, n=4, seed=2)
    beta, n, N = 1.7, 4, logp.shape[0]
    logp.requires_grad_(True)
    loss, m = pacs_loss(logp, old_logp, mask, labels, rollout_n=n, beta=beta)
    (grad,) = torch.autograd.grad(loss, logp)

    psi = m["per_sample/psi"]
    c = (m["per_sample/weight"] * (torch.sigmoid(psi) - labels)).reshape(-1, n)  # [G, n]
    c_loo = (c - (c.sum(dim=1, keepdim=True) - c) / (n - 1)).reshape(-1)  # [B]
    expected = beta / N * mask * c_loo[:, None]
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-15)
    assert (grad[mask == 0] == 0).all()


# ---------- a tiny example computed by hand ----------

def test_hand_example_rloo_question():
    logp, old, mask, labels = hand_batch()
    rhat, psi = pacs_scores(logp, old, mask, rollout_n=4, beta=2.0)
    # r̂ = 2·(0.4, −0.2, 0.1, 0.5) = (0.8, −0.4, 0.2, 1.0); ψ_i = r̂_i − (1.6 − r̂_i)/3
    torch.testing.assert_close(rhat, torch.tensor([0.8, -0.4, 0.2, 1.0, 0, 0, 0, 0], dtype=F64))
    torch.testing.assert_close(psi, torch.tensor([0.8 - 0.8 / 3, -0.4 - 2.0 / 3, 0.2 - 1.4 / 3, 1.0 - 0.6 / 3,
                                                  0, 0, 0, 0], dtype=F64))
    # group 0 has 1 positive and 3 negatives: w = 4/(2·1) = 2 and 4/(2·3) = 2/3; group 1 agrees: w = 1
    w = pacs_weights(labels, rollout_n=4)
    torch.testing.assert_close(w, torch.tensor([2, 2 / 3, 2 / 3, 2 / 3, 1, 1, 1, 1], dtype=F64))

    bce = lambda x, y: math.log1p(math.exp(-x)) if y == 1 else math.log1p(math.exp(x))
    psi_hand = [0.8 - 0.8 / 3, -0.4 - 2.0 / 3, 0.2 - 1.4 / 3, 1.0 - 0.6 / 3]
    expected = (2 * bce(psi_hand[0], 1) + sum(2 / 3 * bce(p, 0) for p in psi_hand[1:]) + 4 * math.log(2)) / 8
    loss, m = pacs_loss(logp, old, mask, labels, rollout_n=4, beta=2.0)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert m["pacs/loss"] == pytest.approx(expected, rel=1e-12)
    assert m["pacs/weight_mean"] == pytest.approx(1.0)
    assert m["pacs/psi_mean"] == pytest.approx(0.0, abs=1e-12)
    assert m["pacs/psi_abs_mean"] == pytest.approx(sum(map(abs, psi_hand)) / 8)


def test_hand_example_grpo_and_mean_logp():
    logp, old, mask, labels = hand_batch()
    _, psi = pacs_scores(logp, old, mask, rollout_n=4, adv_estimator="grpo")
    # r̂ = (0.4, −0.2, 0.1, 0.5): mean 0.2, centred (0.2, −0.4, −0.1, 0.3), unbiased std √(0.3/3)
    std = math.sqrt(0.3 / 3) + 1e-6
    torch.testing.assert_close(psi[:4], torch.tensor([0.2, -0.4, -0.1, 0.3], dtype=F64) / std)
    torch.testing.assert_close(psi[4:], torch.zeros(4, dtype=F64))  # equal r̂: 0/(0 + 1e-6)
    _, psi = pacs_scores(logp, old, mask, rollout_n=4, adv_estimator="grpo", norm_by_std=False)
    torch.testing.assert_close(psi[:4], torch.tensor([0.2, -0.4, -0.1, 0.3], dtype=F64))

    rhat, psi = pacs_scores(logp, old, mask, rollout_n=4, beta=2.0, reward_method="mean_logp", adv_estimator="naive")
    # mean log-prob of the real tokens times β
    expected = 2 * torch.tensor([-0.15, -1.0, -0.5, -0.5, -0.2, -0.3, -0.4, -0.1], dtype=F64)
    torch.testing.assert_close(rhat, expected)
    torch.testing.assert_close(psi, expected)


def test_weight_modes_by_hand():
    labels = torch.tensor([1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0])
    torch.testing.assert_close(pacs_weights(labels, rollout_n=4),
                               torch.tensor([2, 2 / 3, 2 / 3, 2 / 3, 1, 1, 1, 1, 1, 1, 1, 1]))
    torch.testing.assert_close(pacs_weights(labels, rollout_n=4, weight_mode="only_positive"), labels.float())
    torch.testing.assert_close(pacs_weights(labels, rollout_n=4, weight_mode="only_negative"), 1 - labels.float())
    torch.testing.assert_close(pacs_weights(labels, rollout_n=4, weight_mode="none"), torch.ones(12))
    # n = 2 and n = 6: each side of a mixed group carries total weight n/2
    torch.testing.assert_close(pacs_weights(torch.tensor([1, 0, 1, 1]), rollout_n=2), torch.tensor([1.0, 1, 1, 1]))
    w = pacs_weights(torch.tensor([1, 1, 0, 0, 0, 0]), rollout_n=6)
    torch.testing.assert_close(w, torch.tensor([1.5, 1.5, 0.75, 0.75, 0.75, 0.75]))


# ---------- padding, masking, grouping ----------

def all_losses(logp, old_logp, mask, labels, ref_logp):
    n = 4
    out = {}
    for est, norm in ESTIMATORS:
        for rm in REWARD_METHODS:
            out[f"pacs-{est}-{norm}-{rm}"] = pacs_loss(logp, old_logp, mask, labels, rollout_n=n,
                                                       **options(est, norm, rm))[0]
    out["grpo"] = grpo_loss(logp, old_logp, mask, labels, rollout_n=n, ref_logp=ref_logp, kl_coef=0.1)[0]
    out["rloo"] = rloo_loss(logp, mask, labels, rollout_n=n)[0]
    return out


def test_padding_never_changes_loss_or_gradient():
    clean_logp, clean_old, mask, labels = make_batch(seed=3, garbage=False)
    clean_ref = (clean_logp + 0.1) * mask
    b, t = clean_logp.shape
    extra = 3  # extra padded columns, as a longer batch would have
    wide_mask = torch.cat([mask, torch.zeros(b, extra, dtype=F64)], dim=1)
    padded = ~wide_mask.bool()
    k = int(padded.sum())
    gen = torch.Generator().manual_seed(33)

    def dirty(x, junk):
        out = torch.cat([x, torch.zeros(b, extra, dtype=F64)], dim=1)
        out[padded] = junk
        return out

    dirty_logp = dirty(clean_logp, torch.tensor([float("inf"), float("nan"), -float("inf"), 1e3, -7.0],
                                                dtype=F64).repeat(k)[:k])
    dirty_old = dirty(clean_old, 1e3 * torch.randn(k, generator=gen, dtype=F64) + 1.0)
    dirty_ref = dirty(clean_ref, -1e3 * torch.rand(k, generator=gen, dtype=F64) - 1.0)
    assert (dirty_old[padded] != 0).all() and k > 3 * b

    clean_logp.requires_grad_(True)
    dirty_logp.requires_grad_(True)
    clean = all_losses(clean_logp, clean_old, mask, labels, clean_ref)
    dirties = all_losses(dirty_logp, dirty_old, wide_mask, labels, dirty_ref)
    for name in clean:
        assert torch.isfinite(dirties[name]), name
        torch.testing.assert_close(dirties[name], clean[name], rtol=1e-14, atol=0, msg=name)  # summation order only
        (g_clean,) = torch.autograd.grad(clean[name], clean_logp)
        (g_dirty,) = torch.autograd.grad(dirties[name], dirty_logp)
        torch.testing.assert_close(g_dirty[:, :t], g_clean, rtol=1e-12, atol=1e-15, msg=lambda m: f"{name}: {m}")
        assert (g_dirty[padded] == 0).all(), name


def test_unmasked_sum_of_the_reference_code_would_differ():
    """The pitfall the mask guards against: garbage in old_logp at padding changes an unmasked sum."""
    logp, old, mask, _ = hand_batch()
    rhat, _ = pacs_scores(logp, old, mask, rollout_n=4)
    unmasked = (logp - old).sum(dim=1)
    assert not torch.allclose(rhat, unmasked)
    torch.testing.assert_close(rhat, ((logp - old) * mask).sum(dim=1))


def test_split_groups_raise():
    logp, old, mask, labels = make_batch(groups=2, n=4)
    with pytest.raises(ValueError, match=r"batch of 6 rows .* rollout_n = 4"):
        pacs_loss(logp[:6], old[:6], mask[:6], labels[:6], rollout_n=4)
    with pytest.raises(ValueError, match=r"batch of 8 rows .* rollout_n = 3"):
        pacs_scores(logp, old, mask, rollout_n=3)
    for fn in (lambda: grpo_loss(logp[:6], old[:6], mask[:6], labels[:6], rollout_n=4),
               lambda: rloo_loss(logp[:6], mask[:6], labels[:6], rollout_n=4),
               lambda: pacs_weights(labels[:6], rollout_n=4)):
        with pytest.raises(ValueError, match="groups were split or mixed"):
            fn()


def test_group_ids_catch_mixed_groups():
    logp, old, mask, labels = make_batch(groups=2, n=4)
    good = torch.tensor([7, 7, 7, 7, 3, 3, 3, 3])
    pacs_loss(logp, old, mask, labels, rollout_n=4, group_ids=good)
    mixed = torch.tensor([7, 7, 7, 3, 7, 3, 3, 3])
    for fn in (lambda ids: pacs_loss(logp, old, mask, labels, rollout_n=4, group_ids=ids),
               lambda ids: pacs_scores(logp, old, mask, rollout_n=4, group_ids=ids),
               lambda ids: grpo_loss(logp, old, mask, labels, rollout_n=4, group_ids=ids),
               lambda ids: rloo_loss(logp, mask, labels, rollout_n=4, group_ids=ids)):
        fn(good)
        with pytest.raises(ValueError, match=r"rows 0\.\.3 \(group 0\) hold several group ids \[3, 7\]"):
            fn(mixed)


@pytest.mark.parametrize("estimator", ["rloo", "grpo"])
def test_rollout_n_below_two_raises_for_group_estimators(estimator):
    logp, old, mask, labels = make_batch(groups=2, n=4)
    with pytest.raises(ValueError, match="rollout_n >= 2"):
        pacs_scores(logp, old, mask, rollout_n=1, adv_estimator=estimator)
    with pytest.raises(ValueError, match="rollout_n >= 2"):
        pacs_loss(logp, old, mask, labels, rollout_n=1, adv_estimator=estimator, weight_mode="none")


def test_naive_accepts_rollout_n_one_and_equals_rhat():
    logp, old, mask, labels = make_batch(groups=2, n=4)
    rhat, psi = pacs_scores(logp, old, mask, rollout_n=1, adv_estimator="naive")
    torch.testing.assert_close(psi, rhat)
    pacs_loss(logp, old, mask, labels, rollout_n=1, adv_estimator="naive", weight_mode="none")
    with pytest.raises(ValueError, match="rollout_n >= 2"):
        rloo_loss(logp, mask, labels, rollout_n=1)
    with pytest.raises(ValueError, match="rollout_n >= 2"):
        grpo_loss(logp, old, mask, labels, rollout_n=1)


def test_bad_options_and_shapes_raise():
    logp, old, mask, labels = make_batch(groups=2, n=4)
    with pytest.raises(ValueError, match="adv_estimator must be one of rloo, grpo, naive; got 'ppo'"):
        pacs_scores(logp, old, mask, rollout_n=4, adv_estimator="ppo")
    with pytest.raises(ValueError, match="reward_method"):
        pacs_scores(logp, old, mask, rollout_n=4, reward_method="sum")
    with pytest.raises(ValueError, match="weight_mode"):
        pacs_weights(labels, rollout_n=4, weight_mode="positive")
    with pytest.raises(ValueError, match="mask has shape"):
        pacs_scores(logp, old, mask[:, :-1], rollout_n=4)
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        pacs_loss(logp, old, mask, labels * 0.7, rollout_n=4)
    with pytest.raises(ValueError, match="labels has shape"):
        pacs_loss(logp, old, mask, labels[:4], rollout_n=4)


# ---------- values at θ = θ_old, BCE equivalence, dtypes ----------

@pytest.mark.parametrize("estimator,norm", ESTIMATORS)
def test_at_theta_old_psi_is_zero(estimator, norm):
    logp, _, mask, labels = make_batch(seed=4)
    loss, m = pacs_loss(logp, logp.clone(), mask, labels, rollout_n=4, adv_estimator=estimator, norm_by_std=norm)
    assert (m["per_sample/psi"] == 0).all()
    assert (m["per_sample/p_correct"] == 0.5).all()
    torch.testing.assert_close(m["per_sample/grad_weight"], labels - 0.5)
    assert loss.item() == pytest.approx(m["per_sample/weight"].mean().item() * math.log(2), rel=1e-12)


@pytest.mark.parametrize("weight_mode", WEIGHT_MODES)
def test_equals_torch_bce_with_logits_weighted_mean(weight_mode):
    logp, old, mask, labels = make_batch(seed=5)
    loss, m = pacs_loss(logp, old, mask, labels, rollout_n=4, weight_mode=weight_mode)
    reference = torch.nn.BCEWithLogitsLoss(weight=m["per_sample/weight"])(m["per_sample/psi"], labels)
    torch.testing.assert_close(loss, reference, rtol=1e-14, atol=0)


def test_per_sample_outputs_are_detached_and_consistent():
    logp, old, mask, labels = make_batch(seed=6)
    logp.requires_grad_(True)
    _, m = pacs_loss(logp, old, mask, labels, rollout_n=4)
    per_sample = {k: v for k, v in m.items() if k.startswith("per_sample/")}
    assert set(per_sample) == {"per_sample/rhat", "per_sample/psi", "per_sample/weight", "per_sample/p_correct",
                               "per_sample/grad_weight"}
    assert all(not v.requires_grad and v.shape == (12,) for v in per_sample.values())
    assert all(isinstance(v, float) for k, v in m.items() if k not in per_sample)
    torch.testing.assert_close(m["per_sample/p_correct"], torch.sigmoid(m["per_sample/psi"]))
    torch.testing.assert_close(m["per_sample/grad_weight"], labels - m["per_sample/p_correct"])


def test_bf16_inputs_compute_in_float32():
    logp, old, mask, labels = make_batch(seed=7)
    loss64, _ = pacs_loss(logp, old, mask, labels, rollout_n=4)
    loss16, m = pacs_loss(logp.bfloat16(), old.bfloat16(), mask.bool(), labels.long(), rollout_n=4)
    assert loss16.dtype == torch.float32 and m["per_sample/psi"].dtype == torch.float32
    assert loss16.item() == pytest.approx(loss64.item(), rel=2e-2)
    for loss, _ in (grpo_loss(logp.bfloat16(), old.bfloat16(), mask, labels, rollout_n=4),
                    rloo_loss(logp.bfloat16(), mask, labels, rollout_n=4)):
        assert loss.dtype == torch.float32


# ---------- any batch layout: the gradient from ∂L/∂r̂ ----------

SPLITS = [[12], [5, 7], [1, 3, 2, 6], [4, 4, 4], [11, 1]]


@pytest.mark.parametrize("estimator,norm", ESTIMATORS)
@pytest.mark.parametrize("reward_method", REWARD_METHODS)
@pytest.mark.parametrize("weight_mode", ["question", "none"])
def test_pacs_gradient_is_the_same_under_any_split_of_the_rows(estimator, norm, reward_method, weight_mode):
    """Σ_j (∂L/∂r̂_j)·r̂_j backpropagated over any split of the rows gives the whole-group gradient."""
    logp, old_logp, mask, labels = make_batch(seed=21)
    n, rows = 4, logp.shape[0]
    opts = options(estimator, norm, reward_method, weight_mode)
    beta, method = opts.pop("beta"), opts.pop("reward_method")
    whole = logp.clone().requires_grad_(True)
    loss, _ = pacs_loss(whole, old_logp, mask, labels, rollout_n=n, beta=beta, reward_method=method, **opts)
    loss.backward()
    rhat = pacs_rhat(logp, old_logp, mask, beta=beta, reward_method=method)  # detached: no grad here
    c, metrics = pacs_rhat_gradient(rhat, labels, rollout_n=n, **opts)
    assert metrics["pacs/loss"] == pytest.approx(loss.item(), rel=1e-12)
    for split in SPLITS:
        assert sum(split) == rows
        leaf = logp.clone().requires_grad_(True)
        start = 0
        for size in split:  # each part sees only its own rows and the whole batch's c
            part = slice(start, start + size)
            local = pacs_rhat(leaf[part], old_logp[part], mask[part], beta=beta, reward_method=method)
            (c[part] * local).sum().backward()
            start += size
        assert (leaf.grad - whole.grad).abs().max().item() <= 1e-10, split


def test_at_theta_old_the_rhat_gradient_depends_on_the_labels_alone():
    _, _, _, labels = make_batch(seed=22)
    c, metrics = pacs_rhat_gradient(torch.zeros(12, dtype=F64), labels, rollout_n=4)
    w = pacs_weights(labels, rollout_n=4)
    # ψ = 0, σ = 0.5: ∂L/∂ψ_i = w_i (0.5 − R_i)/N, then the leave-one-out transpose
    d_psi = (w * (0.5 - labels) / 12).reshape(3, 4)
    expected = (d_psi - (d_psi.sum(1, keepdim=True) - d_psi) / 3).reshape(-1)
    torch.testing.assert_close(c, expected)
    assert metrics["pacs/loss"] == pytest.approx(math.log(2))
