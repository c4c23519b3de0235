"""The PACS loss on rows spread over processes and micro-batches: pure tensor functions.

PACS couples the rows of a group only through the reward proxy r̂, so with c = ∂L/∂r̂ over the
whole mini-batch, the gradient of L is Σ_j c_j ∇r̂_j, a sum over rows that any process and any
micro-batch can take over its own rows. c is taken at the current θ (minibatch.py); at θ = θ_old
with `logratio`, r̂ ≡ 0 and c depends on the labels alone (`labels_gradient`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from pacslab.losses import pacs_rhat, pacs_rhat_gradient


def labels_gradient(labels: Tensor, group_ids: Tensor, *, rollout_n: int, **options) -> tuple[Tensor, dict]:
    """c = ∂L/∂r̂ [B] at r̂ = 0 for a global batch of whole contiguous groups (`labels`, `group_ids`
    [B]), and the loss's metrics there; `options` are `pacs_loss_of_rhat`'s."""
    zero = torch.zeros(labels.shape, dtype=torch.float64, device=labels.device)  # [B]
    return pacs_rhat_gradient(zero, labels, rollout_n=rollout_n, group_ids=group_ids, **options)


def coupled_loss(logp: Tensor, old_logp: Tensor, mask: Tensor, c: Tensor, *, beta: float, scale: float,
                 reward_method: str = "logratio") -> Tensor:
    """scale · Σ_j c_j r̂_j over these rows (any rows of the batch): its gradient is `scale` times
    these rows' share Σ_j c_j ∇r̂_j of ∇L. `scale` undoes the caller's averaging (the data-parallel
    mean over processes), so that the gradients summed over micro-batches and processes are ∇L."""
    rhat = pacs_rhat(logp, old_logp, mask, beta=beta, reward_method=reward_method)  # [b]
    return scale * (c.to(rhat.dtype) * rhat).sum()


def whole_groups(group_ids: Tensor, rollout_n: int) -> bool:
    """These rows are whole groups, each group's rows contiguous: `pacs_loss` applies to them as they are."""
    b = group_ids.shape[0]
    if b == 0 or b % rollout_n:
        return False
    blocks = group_ids.reshape(-1, rollout_n)  # [G, n]
    return bool((blocks == blocks[:, :1]).all()) and blocks[:, 0].unique().numel() == blocks.shape[0]


def shuffle_groups(batch: dict, rollout_n: int) -> dict:
    """trl's shuffle_sequence_dict by whole groups: the rows of `batch` (its tensors' first dimension
    and its lists, in unison) are whole contiguous groups of `rollout_n` and stay so; rows that are not
    a multiple of `rollout_n` are shuffled one by one, as trl does."""
    rows = len(next(v for v in batch.values() if v is not None))
    if rows % rollout_n:
        order = torch.randperm(rows)  # [B]
    else:
        order = (torch.randperm(rows // rollout_n).unsqueeze(1) * rollout_n + torch.arange(rollout_n)).reshape(-1)  # [B]

    def permute(value):
        if value is None or (isinstance(value, Tensor) and value.ndim == 0):
            return value
        if isinstance(value, Tensor):
            return value[order.to(value.device)]
        return [value[i] for i in order.tolist()]

    return {key: permute(value) for key, value in batch.items()}
