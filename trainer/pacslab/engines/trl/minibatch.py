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
from transformers import TrainerCallback

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


def critic_after_update(trainer, model, forward, *, rows_key: str, labels_key: str, groups_key: str) -> dict | None:
    """ψ_post of every row of the rollout batch at the current θ against π_old (one no-grad forward
    of each process's rows, gathered), as the native engine takes it after a step's updates: the
    records' r̂, ψ, σ(ψ), R − σ(ψ) (into `trainer.sample_fields`, by gathered row) and the critic/*
    metrics. None where the micro-batches hold no old log-probs (TRL's own loss, one update a batch)."""
    from pacslab.losses import pacs_bce, pacs_weights
    from pacslab.metrics import critic_metrics

    micro = trainer._buffered_inputs or []
    if not micro or any(mb.get("old_per_token_logps") is None for mb in micro):
        return None
    o = trainer.pacs_options
    with torch.no_grad():
        rhat = torch.cat([_rhat(trainer, *forward(model, mb)) for mb in micro]).double()  # [b]
    rows = gathered(torch.cat([mb[rows_key] for mb in micro]))
    order = torch.argsort(rows)  # [N]: the gathered batch's order, whole contiguous groups
    rhat, labels = gathered(rhat)[order], gathered(torch.cat([mb[labels_key] for mb in micro]).double())[order]
    groups, n = gathered(torch.cat([mb[groups_key] for mb in micro]))[order], trainer.num_generations
    psi = _psi(rhat, n, groups, o)  # [N]
    weights = pacs_weights(labels, rollout_n=n, weight_mode=o.get("weight_mode", "question"))  # [N]
    p_correct = torch.sigmoid(psi)
    values = critic_metrics(psi, labels, rollout_n=n)
    values["critic/bce"] = pacs_bce(psi, labels, weights).item() if torch.isfinite(psi).all() else None
    fields = {"logratio": rhat, "psi": psi, "p_correct": p_correct, "grad_weight": labels - p_correct, "weight": weights}
    for name, column in fields.items():
        trainer.sample_fields[name] = column.tolist()
    return values


def _rhat(trainer, logp, old_logp, mask) -> Tensor:
    from pacslab.losses import pacs_rhat

    return pacs_rhat(logp, old_logp, mask, beta=trainer.pacs_beta, reward_method=trainer.pacs_reward_method)


def _psi(rhat: Tensor, n: int, groups: Tensor, options: dict) -> Tensor:
    from pacslab.losses import pacs_psi

    return pacs_psi(rhat, rollout_n=n, adv_estimator=options.get("adv_estimator", "rloo"),
                    norm_by_std=options.get("norm_by_std", True), group_ids=groups)


class CriticSchedule(TrainerCallback):
    """After the last optimizer step of every `every`-th rollout batch (0 = never): `critic_after_update`,
    its metrics into the step's log (every process runs it: it gathers)."""

    def __init__(self, trainer, every: int):
        self.trainer, self.every = trainer, every

    def on_step_end(self, args, state, control, **kwargs):
        t = self.trainer
        updates = getattr(t, "updates_per_step", 1)
        if not self.every or state.global_step % updates or (state.global_step // updates) % self.every:
            return control
        values = t.critic_after_update()
        for name, value in (values or {}).items():
            t._metrics["train"][name].append(float("nan") if value is None else float(value))
        return control
