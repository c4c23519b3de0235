"""Dynamic sampling (DAPO's; verl's `filter_groups`): sample more prompts until a step holds
`rollout.prompts_per_step` groups whose labels are mixed.

A group whose samples all agree (all right or all wrong) gives GRPO, RLOO and PACS no signal. With
`rollout.dynamic_sampling: true` a step samples rounds of `prompts_per_step` prompts, keeping the
mixed groups in the order they came, until it has `prompts_per_step` of them or has run
`rollout.dynamic_sampling_max_rounds` rounds; then the rest of the batch is filled with agreeing
groups (first sampled first), so a step's batch keeps its size and layout. The engines
(engines/native through `sample_step`, engines/trl/sampling.py on TRL) call `choose_groups` on the labels of each
round and `sampling_metrics` for the step's record:

- `sampling/rounds`: generation rounds the step took (1 = no extra round);
- `sampling/prompts`: prompts sampled in all rounds;
- `sampling/dropped_frac`: the share of sampled groups left out;
- `sampling/unmixed_kept`: agreeing groups kept because the rounds ran out (0 when it succeeded).

The labels a step's records and `reward/mean`/`reward/std` report are those of the kept batch; the
groups it left out (`dropped_groups`) still count in the prompt ledger and in the group shares
`reward/all_correct_frac`, `reward/all_wrong_frac`, `reward/mixed_group_frac` (health/run.py's
`step_shares`), so the `no_signal` alert sees every group the policy was sampled on.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

Pick = tuple[int, int]  # (round, group within the round)


def verdict_labels(verdicts) -> Tensor:
    """[B] 0/1 labels of a round's verdicts."""
    return torch.tensor([float(v.label) for v in verdicts])


def mixed_groups(labels: Tensor, n: int) -> Tensor:
    """[G] bool: whether group g (rows g·n … g·n+n−1 of `labels` [G·n]) holds both labels."""
    sums = labels.detach().float().reshape(-1, n).sum(1)  # [G]
    return (sums > 0) & (sums < n)


def choose_groups(round_labels: Sequence[Tensor], *, groups: int, n: int, final: bool) -> list[Pick] | None:
    """The `groups` groups a step keeps from its rounds so far (each round's labels [G·n]): the first
    mixed ones; None while there are fewer and more rounds may run; on the `final` round the mixed
    ones and then agreeing ones, in sampling order."""
    mixed = [(r, g) for r, labels in enumerate(round_labels) for g, m in enumerate(mixed_groups(labels, n).tolist()) if m]
    if len(mixed) >= groups:
        return mixed[:groups]
    if not final:
        return None
    agreeing = [(r, g) for r, labels in enumerate(round_labels) for g, m in enumerate(mixed_groups(labels, n).tolist())
                if not m]
    return sorted(mixed + agreeing[: groups - len(mixed)])


def sampling_metrics(round_labels: Sequence[Tensor], picks: list[Pick], *, n: int) -> dict[str, float]:
    sampled = sum(labels.numel() // n for labels in round_labels)
    mixed = {(r, g) for r, labels in enumerate(round_labels) for g, m in enumerate(mixed_groups(labels, n).tolist()) if m}
    return {"sampling/rounds": float(len(round_labels)), "sampling/prompts": float(sampled),
            "sampling/dropped_frac": (sampled - len(picks)) / sampled,
            "sampling/unmixed_kept": float(sum(1 for p in picks if p not in mixed))}


def dropped_groups(round_labels: Sequence[Tensor], picks: list[Pick], *, n: int) -> list[tuple[Pick, int]]:
    """The groups of the rounds (each round's labels [G·n]) that `picks` leaves out, in sampling
    order, each with its correct samples."""
    kept = set(picks)
    return [((r, g), int(c)) for r, labels in enumerate(round_labels)
            for g, c in enumerate(labels.detach().float().reshape(-1, n).sum(1).round().tolist()) if (r, g) not in kept]


def group_rows(picks: list[Pick], n: int) -> list[tuple[int, list[int]]]:
    """Per pick, (its round, its rows within the round)."""
    return [(r, list(range(g * n, g * n + n))) for r, g in picks]


def left_padded(parts: Sequence[Tensor], value) -> Tensor:
    """Rows of `parts` ([b_i, w_i] each) stacked, each padded on the left to the widest."""
    width = max(p.shape[1] for p in parts)
    return torch.cat([F.pad(p, (width - p.shape[1], 0), value=value) for p in parts])


def right_padded(parts: Sequence[Tensor], value) -> Tensor:
    """Rows of `parts` ([b_i, w_i, ...] each) stacked, each padded on the right to the widest."""
    width = max(p.shape[1] for p in parts)
    pad = [0, 0] * (parts[0].ndim - 2)
    return torch.cat([F.pad(p, (*pad, 0, width - p.shape[1]), value=value) for p in parts])


def sample_rounds(draw, labels_of, *, groups: int, n: int, max_rounds: int):
    """Rounds of `draw()` until `choose_groups` keeps `groups` groups (at most `max_rounds`): the
    rounds, the picks, the groups left out (`dropped_groups`) and the step's sampling metrics.
    `labels_of(round)` gives a round's labels [G·n]."""
    rounds, labels = [], []
    while True:
        rounds.append(draw())
        labels.append(labels_of(rounds[-1]))
        picks = choose_groups(labels, groups=groups, n=n, final=len(rounds) >= max_rounds)
        if picks is not None:
            return rounds, picks, dropped_groups(labels, picks, n=n), sampling_metrics(labels, picks, n=n)


def merge_rollouts(rounds, picks: list[Pick], *, n: int, pad_id: int):
    """The native engine's (examples, RolloutBatch, verdicts) of the picked groups of `rounds` (each
    such a triple), in pick order: prompts left-padded and responses right-padded to the widest."""
    from pacslab.rollout import RolloutBatch

    examples, verdicts, prompt_ids, prompt_mask, response_ids, response_mask = [], [], [], [], [], []
    texts, tokens, lengths, truncated = [], [], [], []
    for r, rows in group_rows(picks, n):
        round_examples, batch, round_verdicts = rounds[r]
        examples.append(round_examples[batch.prompt_index[rows[0]]])
        p = batch.prompt_len
        prompt_ids.append(batch.input_ids[rows, :p])
        prompt_mask.append(batch.attention_mask[rows, :p])
        response_ids.append(batch.input_ids[rows, p:])
        response_mask.append(batch.response_mask[rows])
        for i in rows:
            verdicts.append(round_verdicts[i])
            texts.append(batch.response_texts[i])
            tokens.append(batch.response_tokens[i])
            lengths.append(batch.lengths[i])
            truncated.append(batch.truncated[i])
    prompts, masks = left_padded(prompt_ids, pad_id), left_padded(prompt_mask, 0)  # [B, P]
    responses, response_masks = right_padded(response_ids, pad_id), right_padded(response_mask, 0)  # [B, R]
    merged = RolloutBatch(input_ids=torch.cat([prompts, responses], dim=1),
                          attention_mask=torch.cat([masks, response_masks.to(masks.dtype)], dim=1),
                          response_mask=response_masks, prompt_len=prompts.shape[1], response_texts=texts,
                          response_tokens=tokens, lengths=lengths, truncated=truncated,
                          prompt_index=[i // n for i in range(len(texts))])
    return examples, merged, verdicts


def sample_step(draw, rollout, *, n: int, pad_id: int):
    """The native engine's (examples, RolloutBatch, verdicts, sampling metrics, dropped) of a step:
    one `draw()` (a round: examples, batch, verdicts), or rounds of them with `rollout.dynamic_sampling`;
    `dropped` is (example, correct samples) of each group the rounds left out."""
    if not rollout.dynamic_sampling:
        return (*draw(), {}, [])
    rounds, picks, dropped, metrics = sample_rounds(draw, lambda r: verdict_labels(r[2]), groups=rollout.prompts_per_step,
                                                    n=n, max_rounds=rollout.dynamic_sampling_max_rounds)
    left_out = [(rounds[r][0][rounds[r][1].prompt_index[g * n]], c) for (r, g), c in dropped]
    return (*merge_rollouts(rounds, picks, n=n, pad_id=pad_id), metrics, left_out)
