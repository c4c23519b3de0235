"""Worker of test_trl_engine.py, started by torchrun on 2 CPU processes (gloo).

Every rank builds the same tiny random-init model and global batch, computes the 1-process
`pacs_loss` gradient of the whole batch as the reference, then its own share of the batch's rows
in two micro-batches with `pacs_micro_loss`, averages the gradients over the ranks as DDP does,
and writes the relative error of each layout to OUT/rank-R.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from transformers import LlamaConfig, LlamaForCausalLM

from pacslab.engines.trl.loss import labels_gradient
from pacslab.engines.trl.trainer import pacs_micro_loss
from pacslab.losses import pacs_loss

GROUPS, N, PROMPT, RESPONSE, VOCAB = 4, 4, 3, 5, 40
OPTIONS = {"adv_estimator": "rloo", "norm_by_std": True, "weight_mode": "question"}


def batch(seed: int):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (GROUPS * N, PROMPT + RESPONSE), generator=g)  # [B, P+R]
    lengths = torch.randint(1, RESPONSE + 1, (GROUPS * N,), generator=g)  # [B]
    mask = (torch.arange(RESPONSE).unsqueeze(0) < lengths.unsqueeze(1)).float()  # [B, R]
    labels = torch.tensor([1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1], dtype=torch.float32)  # [B], mixed and not
    return ids, mask, labels, torch.arange(GROUPS * N) // N


def response_logp(model, ids):
    logits = model(input_ids=ids).logits[:, PROMPT - 1:-1].float()  # [b, R, V]
    return torch.log_softmax(logits, dim=-1).gather(-1, ids[:, PROMPT:].unsqueeze(-1)).squeeze(-1)  # [b, R]


def flat_grad(model) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def reference(model, ids, mask, labels, group_ids) -> torch.Tensor:
    model.zero_grad()
    logp = response_logp(model, ids)
    loss, _ = pacs_loss(logp, logp.detach(), mask, labels, rollout_n=N, group_ids=group_ids, **OPTIONS)
    loss.backward()
    return flat_grad(model).clone()


def distributed(model, ids, mask, labels, group_ids, order: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This rank's rows of `order`, in 2 micro-batches, with gradients averaged over ranks (DDP)."""
    c, _ = labels_gradient(labels, group_ids, rollout_n=N, **OPTIONS)  # [B], as at scoring time
    mine = order.reshape(world, -1)[rank]  # [B / world]
    model.zero_grad()
    for rows in mine.reshape(2, -1):
        logp = response_logp(model, ids[rows])
        loss = pacs_micro_loss(logp, logp.detach(), mask[rows], labels[rows], group_ids[rows], c[rows],
                               rollout_n=N, beta=1.0, processes=world, accumulation=2, **OPTIONS)
        loss.backward()
    grad = flat_grad(model).clone()
    dist.all_reduce(grad)
    return grad / world


def main(out: Path) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16))
    ids, mask, labels, group_ids = batch(1)
    want = reference(model, ids, mask, labels, group_ids)
    layouts = {
        "whole_groups": torch.arange(GROUPS * N),  # each micro-batch one whole group: the local path
        "split_groups": torch.randperm(GROUPS * N, generator=torch.Generator().manual_seed(2)),  # groups over ranks
    }
    errors = {}
    for name, order in layouts.items():
        got = distributed(model, ids, mask, labels, group_ids, order, rank, world)
        errors[name] = ((got - want).norm() / want.norm()).item()
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank-{rank}.json").write_text(json.dumps({"world": world, "errors": errors,
                                                       "grad_norm": want.norm().item()}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
