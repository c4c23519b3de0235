"""Losses and advantages for PACS, GRPO, Dr. GRPO and RLOO: pure tensor functions.

No model, no state, no I/O. Every function takes per-token log-probabilities of one batch
(`[B, T]`, right-padded, `mask` 1 on real response tokens including EOS) and per-row labels
(`[B]`, 0 or 1), and returns `(loss, metrics)`. Rows `g*n .. g*n+n-1` are group `g` (one prompt,
`n = rollout_n` responses). The maths is in docs/algorithm.md.

Every computation runs in float32 or wider (float64 inputs stay float64), so bf16 log-probs from
the model are safe. Padded positions are excluded with `torch.where`, never by multiplying, so
garbage there (even inf or nan) changes neither the loss nor the gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from pacslab.algorithms import ADV_ESTIMATORS, REWARD_METHODS, WEIGHT_MODES
STD_EPS = 1e-6

Metrics = dict[str, "float | Tensor"]


def _compute_dtype(t: Tensor) -> torch.dtype:
    return torch.promote_types(t.dtype, torch.float32)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def check_groups(batch: int, rollout_n: int, group_ids: Tensor | None = None, *, min_n: int = 1) -> int:
    """Check that `batch` rows form whole contiguous groups of `rollout_n`; return the group count.

    `group_ids` ([B], any integer id per row, e.g. the prompt index) is optional: when given,
    every block of `rollout_n` contiguous rows must hold a single id, else the batch mixes groups.
    """
    if rollout_n < min_n:
        raise ValueError(f"rollout_n = {rollout_n}, but this estimator needs rollout_n >= {min_n} "
                         f"(set rollout.n to at least {min_n})")
    if batch == 0 or batch % rollout_n != 0:
        raise ValueError(f"batch of {batch} rows is not a whole number of groups of rollout_n = {rollout_n}: "
                         "groups were split or mixed when the batch was built")
    groups = batch // rollout_n
    if group_ids is not None:
        if group_ids.shape != (batch,):
            raise ValueError(f"group_ids has shape {tuple(group_ids.shape)}, expected ({batch},)")
        blocks = group_ids.reshape(groups, rollout_n)  # [G, n]
        mixed = (blocks != blocks[:, :1]).any(dim=1)  # [G]
        if mixed.any():
            g = int(mixed.nonzero()[0, 0])
            raise ValueError(f"rows {g * rollout_n}..{g * rollout_n + rollout_n - 1} (group {g}) hold several "
                             f"group ids {sorted(set(blocks[g].tolist()))}: groups were split or mixed")
    return groups


def _check_tokens(logp: Tensor, *others: tuple[str, Tensor | None]) -> None:
    if logp.dim() != 2:
        raise ValueError(f"logp must be [B, T]; got shape {tuple(logp.shape)}")
    for name, t in others:
        if t is not None and t.shape != logp.shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}, logp has {tuple(logp.shape)}; they must match")


def _check_labels(labels: Tensor, batch: int) -> None:
    if labels.shape != (batch,):
        raise ValueError(f"labels has shape {tuple(labels.shape)}, expected ({batch},)")
    if not ((labels == 0) | (labels == 1)).all():
        raise ValueError(f"labels must be 0 or 1; got values {sorted(set(labels.tolist()))}")


def _masked(values: Tensor, mask: Tensor) -> Tensor:
    """`values` at real tokens, exactly 0 at padding (even where `values` is inf or nan)."""
    return torch.where(mask.bool(), values, torch.zeros((), dtype=values.dtype, device=values.device))


def _leave_one_out(x: Tensor, rollout_n: int) -> Tensor:
    """x_i − mean_{j≠i} x_j within each group. x: [B]."""
    g = x.reshape(-1, rollout_n)  # [G, n]
    others = (g.sum(dim=1, keepdim=True) - g) / (rollout_n - 1)  # [G, n]
    return (g - others).reshape(-1)  # [B]


def _group_centered(x: Tensor, rollout_n: int, norm_by_std: bool) -> Tensor:
    """(x_i − mean_g x) / (std_g x + 1e-6), std unbiased; without norm_by_std only centred. x: [B]."""
    g = x.reshape(-1, rollout_n)  # [G, n]
    centered = g - g.mean(dim=1, keepdim=True)  # [G, n]
    if norm_by_std:
        centered = centered / (g.std(dim=1, unbiased=True, keepdim=True) + STD_EPS)
    return centered.reshape(-1)  # [B]


def pacs_rhat(logp: Tensor, old_logp: Tensor | None, mask: Tensor, *, beta: float = 1.0,
              reward_method: str = "logratio") -> Tensor:
    """The reward proxy r̂ [B] of every row, from that row alone (any rows, no groups needed).

    `logratio`: r̂_i = β Σ_t mask·(logp − old_logp);  `mean_logp`: r̂_i = β Σ_t mask·logp / Σ_t mask
    (a row without real tokens gets r̂ = 0; `old_logp` may be None).
    """
    _choice("reward_method", reward_method, REWARD_METHODS)
    if reward_method == "logratio" and old_logp is None:
        raise ValueError("reward_method logratio needs old_logp")
    _check_tokens(logp, ("old_logp", old_logp), ("mask", mask))
    dtype = _compute_dtype(logp)
    logp = logp.to(dtype)  # [B, T]
    if reward_method == "logratio":
        return beta * _masked(logp - old_logp.to(dtype), mask).sum(dim=1)  # [B]
    lengths = mask.bool().sum(dim=1).clamp(min=1).to(dtype)  # [B]
    return beta * _masked(logp, mask).sum(dim=1) / lengths  # [B]


def pacs_psi(rhat: Tensor, *, rollout_n: int, adv_estimator: str = "rloo", norm_by_std: bool = True,
             group_ids: Tensor | None = None) -> Tensor:
    """The score ψ [B] from r̂ [B] within each group of whole contiguous groups.

    `rloo`: ψ_i = r̂_i − mean_{j≠i} r̂_j;  `grpo`: (r̂_i − mean_g r̂)/(std_g r̂ + 1e-6), or only
    centred without `norm_by_std`;  `naive`: ψ_i = r̂_i.
    """
    _choice("adv_estimator", adv_estimator, ADV_ESTIMATORS)
    check_groups(rhat.shape[0], rollout_n, group_ids, min_n=1 if adv_estimator == "naive" else 2)
    if adv_estimator == "rloo":
        return _leave_one_out(rhat, rollout_n)  # [B]
    if adv_estimator == "grpo":
        return _group_centered(rhat, rollout_n, norm_by_std)  # [B]
    return rhat


def pacs_scores(
    logp: Tensor,
    old_logp: Tensor,
    mask: Tensor,
    *,
    rollout_n: int,
    beta: float = 1.0,
    reward_method: str = "logratio",
    adv_estimator: str = "rloo",
    norm_by_std: bool = True,
    group_ids: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The reward proxy r̂ and the score ψ of every row; returns `(rhat [B], psi [B])`
    (`pacs_rhat`, then `pacs_psi`).

    Raises ValueError when the rows are not whole groups, or when rollout_n < 2 with rloo/grpo
    (`pacs_psi`'s checks).
    """
    rhat = pacs_rhat(logp, old_logp, mask, beta=beta, reward_method=reward_method)  # [B]
    return rhat, pacs_psi(rhat, rollout_n=rollout_n, adv_estimator=adv_estimator, norm_by_std=norm_by_std,
                          group_ids=group_ids)


def pacs_weights(labels: Tensor, *, rollout_n: int, weight_mode: str = "question") -> Tensor:
    """Per-sample weights w [B] (no gradient).

    `question`: in a group holding both labels, w_i = n / (2 · #samples of the group with label R_i);
    a group whose labels all agree gets 1. `only_positive`: R; `only_negative`: 1 − R; `none`: 1.
    """
    _choice("weight_mode", weight_mode, WEIGHT_MODES)
    check_groups(labels.shape[0], rollout_n)
    _check_labels(labels, labels.shape[0])
    r = labels.detach().to(_compute_dtype(labels))  # [B]
    if weight_mode == "only_positive":
        return r
    if weight_mode == "only_negative":
        return 1 - r
    if weight_mode == "none":
        return torch.ones_like(r)
    g = r.reshape(-1, rollout_n)  # [G, n]
    positives = g.sum(dim=1, keepdim=True)  # [G, 1]
    same_label = torch.where(g == 1, positives, rollout_n - positives)  # [G, n]
    mixed = (positives > 0) & (positives < rollout_n)  # [G, 1]
    w = torch.where(mixed, rollout_n / (2 * same_label), torch.ones_like(g))  # [G, n]
    return w.reshape(-1)  # [B]


def pacs_bce(psi: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
    """L = (1/N) Σ_i w_i · BCEWithLogits(ψ_i, R_i): a plain mean over the N rows, not divided by Σ w."""
    r = labels.to(psi.dtype)  # [B]
    return F.binary_cross_entropy_with_logits(psi, r, weight=weights.to(psi.dtype), reduction="mean")


def pacs_loss(
    logp: Tensor,
    old_logp: Tensor,
    mask: Tensor,
    labels: Tensor,
    *,
    rollout_n: int,
    beta: float = 1.0,
    reward_method: str = "logratio",
    adv_estimator: str = "rloo",
    norm_by_std: bool = True,
    weight_mode: str = "question",
    group_ids: Tensor | None = None,
) -> tuple[Tensor, Metrics]:
    """The PACS loss: BCE of the score ψ against the verifier's label R, weighted by w.

    Returns `(loss, metrics)`. `metrics` holds plain floats under the logged names
    (`pacs/loss`, `pacs/psi_mean`, `pacs/psi_abs_mean`, `pacs/weight_mean`) and, under keys that
    start with `per_sample/`, detached [B] tensors for the rollout records: `per_sample/rhat`,
    `per_sample/psi`, `per_sample/weight`, `per_sample/p_correct` (σ(ψ)) and
    `per_sample/grad_weight` (R − σ(ψ)). Callers pop every `per_sample/` key before logging.
    """
    _check_labels(labels, logp.shape[0])
    rhat = pacs_rhat(logp, old_logp, mask, beta=beta, reward_method=reward_method)  # [B]
    return pacs_loss_of_rhat(rhat, labels, rollout_n=rollout_n, adv_estimator=adv_estimator,
                             norm_by_std=norm_by_std, weight_mode=weight_mode, group_ids=group_ids)


def pacs_loss_of_rhat(rhat: Tensor, labels: Tensor, *, rollout_n: int, adv_estimator: str = "rloo",
                      norm_by_std: bool = True, weight_mode: str = "question",
                      group_ids: Tensor | None = None) -> tuple[Tensor, Metrics]:
    """`pacs_loss` from the reward proxies r̂ [B] of whole groups: ψ, weights, BCE and metrics."""
    _check_labels(labels, rhat.shape[0])
    psi = pacs_psi(rhat, rollout_n=rollout_n, adv_estimator=adv_estimator, norm_by_std=norm_by_std,
                   group_ids=group_ids)  # [B]
    w = pacs_weights(labels, rollout_n=rollout_n, weight_mode=weight_mode).to(psi.dtype)  # [B]
    loss = pacs_bce(psi, labels, w)
    psi_d = psi.detach()  # [B]
    p_correct = torch.sigmoid(psi_d)  # [B]
    metrics: Metrics = {
        "pacs/loss": loss.item(),
        "pacs/psi_mean": psi_d.mean().item(),
        "pacs/psi_abs_mean": psi_d.abs().mean().item(),
        "pacs/weight_mean": w.mean().item(),
        "per_sample/rhat": rhat.detach(),
        "per_sample/psi": psi_d,
        "per_sample/weight": w,
        "per_sample/p_correct": p_correct,
        "per_sample/grad_weight": labels.to(psi.dtype) - p_correct,
    }
    return loss, metrics


def pacs_rhat_gradient(rhat: Tensor, labels: Tensor, **options) -> tuple[Tensor, Metrics]:
    """c = ∂L/∂r̂ [B] of the PACS loss over a whole mini-batch, from detached r̂ [B], and its metrics.

    With c, any split of the mini-batch's rows (micro-batches, data-parallel ranks) gets the exact
    whole-batch gradient by backpropagating Σ_j c_j · r̂_j over its own rows: ∇L = Σ_j c_j ∇r̂_j.
    `options` are those of `pacs_loss_of_rhat`. At θ = θ_old with `logratio`, r̂ ≡ 0 and c depends
    on the labels alone.
    """
    leaf = rhat.detach().to(_compute_dtype(rhat)).requires_grad_(True)  # [B]
    with torch.enable_grad():
        loss, metrics = pacs_loss_of_rhat(leaf, labels, **options)
        (c,) = torch.autograd.grad(loss, leaf)
    return c, {k: v for k, v in metrics.items() if not k.startswith("per_sample/")}


def grpo_advantages(labels: Tensor, *, rollout_n: int, group_ids: Tensor | None = None,
                    norm_by_std: bool = True) -> Tensor:
    """A_i = (R_i − mean_g R) / (std_g R + 1e-6), std unbiased; without `norm_by_std` (Dr. GRPO)
    A_i = R_i − mean_g R. labels: [B] → [B]."""
    check_groups(labels.shape[0], rollout_n, group_ids, min_n=2)
    _check_labels(labels, labels.shape[0])
    return _group_centered(labels.detach().to(_compute_dtype(labels)), rollout_n, norm_by_std=norm_by_std)


def _row_advantages(advantages: Tensor | None, labels: Tensor, compute) -> Tensor:
    """The given per-row advantages [B] (computed over a whole mini-batch, for a micro-batch of any
    rows), else `compute()` over these rows, which must then be whole groups."""
    if advantages is None:
        return compute()
    if advantages.shape != labels.shape:
        raise ValueError(f"advantages has shape {tuple(advantages.shape)}, labels has {tuple(labels.shape)}; they must match")
    return advantages.detach()


def _clipped_loss(name: str, logp: Tensor, old_logp: Tensor, mask: Tensor, adv: Tensor, *, divisor,
                  clip_eps: float = 0.2, ref_logp: Tensor | None = None, kl_coef: float = 0.0) -> tuple[Tensor, Metrics]:
    """Σ over real tokens of the PPO-clip surrogate (plus `kl_coef` · k3 KL) / `divisor`, and its
    metrics: `{name}/loss`, `{name}/clip_frac` (share of real tokens whose clipped term is active,
    i.e. that get no gradient) and `{name}/kl` (token mean of k3) when `ref_logp` is given."""
    _check_tokens(logp, ("old_logp", old_logp), ("mask", mask), ("ref_logp", ref_logp))
    if kl_coef > 0 and ref_logp is None:
        raise ValueError(f"grpo.kl_coef = {kl_coef} needs ref_logp (the frozen reference model's log-probs)")
    dtype = _compute_dtype(logp)
    logp = logp.to(dtype)  # [B, T]
    n_tokens = mask.bool().sum().clamp(min=1)
    ratio = torch.exp(_masked(logp - old_logp.to(dtype), mask))  # [B, T]
    a = adv.to(dtype).unsqueeze(1)  # [B, 1]
    unclipped = ratio * a  # [B, T]
    clipped = ratio.clamp(1 - clip_eps, 1 + clip_eps) * a  # [B, T]
    loss = _masked(-torch.minimum(unclipped, clipped), mask).sum() / divisor
    clip_active = (((a > 0) & (ratio > 1 + clip_eps)) | ((a < 0) & (ratio < 1 - clip_eps))) & mask.bool()  # [B, T]
    metrics: Metrics = {f"{name}/clip_frac": clip_active.sum().item() / n_tokens.item()}
    if ref_logp is not None:
        delta = _masked(ref_logp.to(dtype) - logp, mask)  # [B, T]
        k3 = torch.exp(delta) - delta - 1  # [B, T], exactly 0 where delta is masked to 0
        metrics[f"{name}/kl"] = (k3.sum() / n_tokens).item()
        if kl_coef > 0:
            loss = loss + kl_coef * k3.sum() / divisor
    metrics[f"{name}/loss"] = loss.item()
    return loss, metrics


def grpo_loss(logp: Tensor, old_logp: Tensor, mask: Tensor, labels: Tensor, *, rollout_n: int,
              group_ids: Tensor | None = None, advantages: Tensor | None = None,
              **clip_options) -> tuple[Tensor, Metrics]:
    """Token-level PPO-clip surrogate with group-normalised advantages, token-mean over all real
    tokens of the batch, plus `kl_coef` · the k3 estimate of KL(π_θ ‖ π_ref) when `kl_coef > 0`.

    `clip_options`: `clip_eps` (0.2), `ref_logp` (None), `kl_coef` (0). `advantages` [B], when
    given, replace those of these rows' groups (a micro-batch of any rows whose advantages were
    computed over its whole mini-batch). metrics: `grpo/loss` (the total), `grpo/clip_frac` (share
    of real tokens whose clipped term is active), and `grpo/kl` only when `ref_logp` is given (no
    reference, no KL measured).
    """
    adv = _row_advantages(advantages, labels,
                          lambda: grpo_advantages(labels, rollout_n=rollout_n, group_ids=group_ids))  # [B]
    return _clipped_loss("grpo", logp, old_logp, mask, adv, divisor=mask.bool().sum().clamp(min=1), **clip_options)


def dr_grpo_loss(logp: Tensor, old_logp: Tensor, mask: Tensor, labels: Tensor, *, rollout_n: int, max_new_tokens: int,
                 group_ids: Tensor | None = None, advantages: Tensor | None = None,
                 **clip_options) -> tuple[Tensor, Metrics]:
    """Dr. GRPO ("GRPO done right", arXiv 2503.20783): GRPO's clipped surrogate with advantages
    R_i − mean_g R (no division by the group's std) and each row's token *sum* divided by the
    constant `max_new_tokens`, then a mean over rows: L = (1/N) Σ_i Σ_t mask·ℓ_{i,t} / L_max. Neither
    normaliser depends on a response's length, so long wrong answers are not penalised less per token.

    `clip_options` as for `grpo_loss`. metrics: `dr_grpo/loss`, `dr_grpo/clip_frac`, and
    `dr_grpo/kl` when `ref_logp` is given.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens is {max_new_tokens}: use 1 or more (rollout.max_new_tokens)")
    adv = _row_advantages(advantages, labels, lambda: grpo_advantages(
        labels, rollout_n=rollout_n, group_ids=group_ids, norm_by_std=False))  # [B]
    return _clipped_loss("dr_grpo", logp, old_logp, mask, adv, divisor=logp.shape[0] * max_new_tokens, **clip_options)


def rloo_advantages(labels: Tensor, *, rollout_n: int, group_ids: Tensor | None = None) -> Tensor:
    """A_i = R_i − mean_{j≠i} R_j. labels: [B] → [B]."""
    check_groups(labels.shape[0], rollout_n, group_ids, min_n=2)
    _check_labels(labels, labels.shape[0])
    return _leave_one_out(labels.detach().to(_compute_dtype(labels)), rollout_n)


def rloo_loss(
    logp: Tensor,
    mask: Tensor,
    labels: Tensor,
    *,
    rollout_n: int,
    group_ids: Tensor | None = None,
    advantages: Tensor | None = None,
) -> tuple[Tensor, Metrics]:
    """REINFORCE leave-one-out: L = −(1/N) Σ_i A_i · Σ_t mask·logp. metrics: `rloo/loss`.

    `advantages` [B], when given, replace those of these rows' groups (see `grpo_loss`)."""
    _check_tokens(logp, ("mask", mask))
    adv = _row_advantages(advantages, labels,
                          lambda: rloo_advantages(labels, rollout_n=rollout_n, group_ids=group_ids))  # [B]
    dtype = _compute_dtype(logp)
    seq_logp = _masked(logp.to(dtype), mask).sum(dim=1)  # [B]
    loss = -(adv.to(dtype) * seq_logp).mean()
    return loss, {"rloo/loss": loss.item()}
