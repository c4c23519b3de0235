"""PACS exact at the current θ in every mini-batch of `engine: trl`.

`optim.mini_batch_prompts` and `optim.epochs` become TRL's `steps_per_generation` (mini-batches ×
accumulation steps) and `num_iterations`: each process splits its rows of a rollout batch into
`steps_per_generation` micro-batches, and every `gradient_accumulation_steps` consecutive ones, on
all processes together, are one mini-batch and one optimizer step. From the second mini-batch on
θ ≠ θ_old, so ψ and c = ∂L/∂r̂ are no longer functions of the labels alone.

At the first micro-batch of each mini-batch the processes agree (one all-reduce) on its path:
- every process's micro-batches of this mini-batch are whole groups: each micro-batch's loss is
  `pacs_loss` of its rows / accumulation steps (no communication, exact at any θ);
- else c is recomputed for the mini-batch at the current θ: r̂ of this process's rows of the
  mini-batch without gradient (no forward at θ_old with `logratio`, where r̂ ≡ 0), gathered with
  the labels and group ids of every process, c from the whole mini-batch, and each micro-batch
  backpropagates W · Σ_j c_j r̂_j over its own rows (W processes, undoing DDP's mean).

This module holds the tensor functions and the per-mini-batch state; trainer.py calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor

from pacslab.losses import _compute_dtype, pacs_loss_of_rhat

FIELDS = ("logratio", "psi", "p_correct", "grad_weight", "weight")


@dataclass
class MiniBatch:
    """The path of the current mini-batch, and on the coupled path this process's c per micro-batch."""

    whole: bool
    c: list[Tensor] = field(default_factory=list)


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def on_every_process(flag: bool, device) -> bool:
    """Whether `flag` holds on every process (one all-reduce)."""
    if not distributed():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() == 1.0)


def gathered(t: Tensor) -> Tensor:
    """The concatenation over processes of an equally sized `t` [b, ...] (process order)."""
    if not distributed():
        return t
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def mini_batch_gradient(rhat: Tensor, labels: Tensor, group_ids: Tensor, *, rollout_n: int,
                        **options) -> tuple[Tensor, dict, dict[str, Tensor]]:
    """c = ∂L/∂r̂ [b] of a mini-batch's rows in any order (`group_ids` [b] says which rows form a
    group; each group whole), its metrics, and per row the fields as the loss takes them."""
    order = torch.argsort(group_ids, stable=True)  # [b]: each group's rows together
    leaf = rhat.detach()[order].to(_compute_dtype(rhat)).requires_grad_(True)  # [b]
    with torch.enable_grad():
        loss, metrics = pacs_loss_of_rhat(leaf, labels[order].to(leaf.dtype), rollout_n=rollout_n,
                                          group_ids=group_ids[order], **options)
        (c_sorted,) = torch.autograd.grad(loss, leaf)
    back = torch.empty_like(order)
    back[order] = torch.arange(order.numel(), device=order.device)  # [b]: the inverse permutation
    fields = {"logratio": metrics["per_sample/rhat"], "psi": metrics["per_sample/psi"],
              "p_correct": metrics["per_sample/p_correct"], "grad_weight": metrics["per_sample/grad_weight"],
              "weight": metrics["per_sample/weight"]}
    return (c_sorted[back], {k: v for k, v in metrics.items() if not k.startswith("per_sample/")},
            {k: v[back] for k, v in fields.items()})


def coupled_coefficients(rhat: Tensor, labels: Tensor, group_ids: Tensor, *, rollout_n: int,
                         **options) -> tuple[Tensor, dict, dict[str, Tensor]]:
    """This process's c [b] for its rows of a mini-batch (r̂, labels, group ids [b] each, equal b on
    every process), from the whole mini-batch gathered over the processes; metrics; its rows' fields."""
    b = rhat.shape[0]
    rank = dist.get_rank() if distributed() else 0
    c, metrics, fields = mini_batch_gradient(gathered(rhat.detach().to(torch.float64)), gathered(labels.float()),
                                             gathered(group_ids), rollout_n=rollout_n, **options)
    local = slice(rank * b, (rank + 1) * b)
    return c[local], metrics, {k: v[local] for k, v in fields.items()}


class FieldLog:
    """The PACS fields of each row as the loss took them in the first pass over a rollout batch
    (row r of the gathered batch), collected per process and gathered once per rollout batch."""

    def __init__(self):
        self.rows: list[Tensor] = []
        self.values: dict[str, list[Tensor]] = {k: [] for k in FIELDS}

    def add(self, rows: Tensor, fields: dict[str, Tensor]) -> None:
        self.rows.append(rows.detach().cpu())
        for k in FIELDS:
            self.values[k].append(fields[k].detach().double().cpu())

    def collect(self, into: dict[str, list]) -> None:
        """Writes every process's rows' fields into `into` (lists by gathered row); every process calls it."""
        mine = (torch.cat(self.rows), {k: torch.cat(v) for k, v in self.values.items()}) if self.rows else None
        parts = [mine]
        if distributed():
            parts = [None] * dist.get_world_size()
            dist.all_gather_object(parts, mine)
        for part in parts:
            if part is None:
                continue
            rows, values = part
            for k, v in values.items():
                column = into.setdefault(k, [])
                for r, x in zip(rows.tolist(), v.tolist()):
                    if r < len(column):
                        column[r] = x
        self.__init__()
