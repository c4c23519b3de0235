"""`rollout.dynamic_sampling` on `engine: trl`: TRL's own generation step, run for more rounds.

`PacsGRPOTrainer._generate_and_score_completions` calls `generate_mixed` with TRL's method
(GRPOTrainer's, unchanged): each round is one call of it on `prompts_per_step` prompts (the first
the dataloader's, later ones drawn from the training set by a generator that every process seeds
alike, each process taking its share). Every process keeps mixed groups of its own rows
(`pacslab.dynamic_sampling.choose_groups`, the native engine's rule); the rounds go on until every
process has its share, agreed by one all-reduce a round, at most `dynamic_sampling_max_rounds`.
The kept rows of TRL's output are stacked (prompts left-padded, responses right-padded), and TRL's
completion log (the run's records), its `reward`/`reward_std` and the global labels are those of
the kept batch. So every loss sees an ordinary batch of whole groups, and stays exact on it. The
groups left out, every process's, go to `trainer.dropped_prompts` (id, data source, correct, n),
which PacsLabCallback hands to the ledger and the group shares.
"""

from __future__ import annotations

from collections import deque

import torch
import torch.distributed as dist

from pacslab.dynamic_sampling import choose_groups, dropped_groups, group_rows, left_padded, right_padded, sampling_metrics
from pacslab.engines.trl.minibatch import distributed, gathered, on_every_process
from pacslab.health.records import prompt_key
from pacslab.run.names import chat_text

LEFT = {"prompt_ids", "prompt_mask"}
RIGHT = {"completion_ids", "completion_mask", "old_per_token_logps", "ref_per_token_logps", "sampling_per_token_logps"}
ROWS_1D = {"advantages"}


def generate_mixed(trainer, inputs: list[dict], generate, *, max_rounds: int) -> dict:
    """TRL's generation output for a batch of mixed groups of this process's rows (see the module)."""
    n, rows = trainer.num_generations, len(inputs)
    if rows % n:
        raise ValueError(f"dynamic sampling needs whole groups on each process; this one has {rows} rows of groups of {n} "
                         "(make rollout.prompts_per_step a multiple of the processes)")
    world = dist.get_world_size() if distributed() else 1
    rank = dist.get_rank() if distributed() else 0
    before = {k: len(trainer._metrics["train"][k]) for k in ("reward", "reward_std")}
    outputs, labels, global_rounds, logs = [], [], [], []
    while True:
        round_inputs = inputs if not outputs else _more_prompts(trainer, rows // n, n, world, rank, len(outputs))
        outputs.append(generate(round_inputs))
        global_labels = trainer._global_labels  # [world·rows]
        global_rounds.append(global_labels)
        labels.append(global_labels[rank * rows:(rank + 1) * rows])
        logs.append(_last_logs(trainer._logs, world * rows))
        picks = choose_groups(labels, groups=rows // n, n=n, final=len(outputs) >= max_rounds)
        if on_every_process(picks is not None, global_labels.device):
            break
    if picks is None:  # another process is done: this one fills from its rounds
        picks = choose_groups(labels, groups=rows // n, n=n, final=True)
    output = _stack(outputs, picks, n=n, pad_id=trainer.processing_class.pad_token_id)
    kept = torch.cat([labels[r][idx] for r, idx in group_rows(picks, n)])  # [rows]
    trainer._global_labels = gathered(kept)
    every = _every_process(picks, world)
    trainer.dropped_prompts = _dropped(logs, global_rounds, every, n=n, rows=rows)
    _keep_logs(trainer, logs, every, n=n, rows=rows)
    metrics = sampling_metrics(labels, picks, n=n)
    for name in ("sampling/rounds", "sampling/prompts", "sampling/unmixed_kept"):  # sums over the processes
        metrics[name] = float(gathered(torch.tensor([metrics[name]], device=kept.device)).sum()) / (
            world if name == "sampling/rounds" else 1)
    metrics["sampling/dropped_frac"] = 1 - world * rows / n / metrics["sampling/prompts"]
    for name, count in before.items():  # TRL's reward metrics: the kept batch's
        del trainer._metrics["train"][name][count:]
    trainer._metrics["train"]["reward"].append(trainer._global_labels.float().mean().item())
    trainer._metrics["train"]["reward_std"].append(trainer._global_labels.float().std().item())
    for name, value in metrics.items():
        trainer._metrics["train"][name].append(value)
    return output


def _more_prompts(trainer, groups: int, n: int, world: int, rank: int, round_: int) -> list[dict]:
    """This process's share of `world·groups` prompts drawn alike on every process, each n times."""
    data = trainer.train_dataset
    seed = (trainer.args.seed * 1_000_003 + trainer.state.global_step) * 101 + round_
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    picked = order[: world * groups].tolist() if len(data) >= world * groups else \
        torch.randint(len(data), (world * groups,), generator=torch.Generator().manual_seed(seed)).tolist()
    return [data[i] for i in picked[rank * groups:(rank + 1) * groups] for _ in range(n)]


def _stack(outputs: list[dict], picks, *, n: int, pad_id: int) -> dict:
    """The picked groups' rows of TRL's outputs, in pick order."""
    parts = group_rows(picks, n)
    out = {}
    for key, value in outputs[0].items():
        if key == "num_items_in_batch":
            continue
        chosen = [outputs[r][key][idx] for r, idx in parts]
        if key in LEFT:
            out[key] = left_padded(chosen, pad_id if key == "prompt_ids" else 0)
        elif key in RIGHT:
            out[key] = right_padded(chosen, pad_id if key == "completion_ids" else 0)
        elif key in ROWS_1D:
            out[key] = torch.cat(chosen)
        else:
            raise ValueError(f"rollout.dynamic_sampling on engine: trl cannot stack TRL's {key!r} (multimodal or "
                             "tool inputs); turn dynamic sampling off")
    out["num_items_in_batch"] = gathered(out["completion_mask"].sum().reshape(1)).sum()
    return out


def _last_logs(logs: dict, count: int) -> dict:
    """The last `count` entries (one round's global batch) of TRL's completion log."""
    def tail(values):
        return list(values)[-count:]

    return {key: ({k: tail(v) for k, v in value.items()} if isinstance(value, dict) else tail(value))
            for key, value in logs.items()}


def _every_process(picks, world: int) -> list:
    """Every process's picks, by process."""
    if not distributed():
        return [picks]
    every = [None] * world
    dist.all_gather_object(every, picks)
    return every


def _dropped(logs: list[dict], global_rounds: list[torch.Tensor], every: list, *, n: int, rows: int) -> list[tuple]:
    """(prompt id, data source, correct, n) of each group a process sampled and left out, process by
    process, the id by health/records.py's `prompt_key` (the verifier's logged `prompt_id`, else the
    prompt's text)."""
    out = []
    for p, picks in enumerate(every):
        local = [labels[p * rows:(p + 1) * rows] for labels in global_rounds]  # [rows] each
        for (r, g), correct in dropped_groups(local, picks, n=n):
            i, extra = p * rows + g * n, logs[r].get("extra", {})
            ids, sources = extra.get("prompt_id", []), extra.get("data_source", [])
            prompt_id = prompt_key(ids[i] if i < len(ids) else None, chat_text(logs[r]["prompt"][i]))
            source = sources[i] if i < len(sources) else None
            out.append((prompt_id, None if source is None else str(source), correct, n))
    return out


def _keep_logs(trainer, logs: list[dict], every: list, *, n: int, rows: int) -> None:
    """TRL's completion log of the kept global batch: every process's picks, process by process."""
    order = [(r, p * rows + i) for p, process_picks in enumerate(every) for r, idx in group_rows(process_picks, n)
             for i in idx]
    for key, value in trainer._logs.items():
        if isinstance(value, dict):
            for name, column in value.items():
                _refill(column, [logs[r][key][name][i] for r, i in order if i < len(logs[r][key].get(name, []))])
        elif key != "images":  # images: multimodal inputs, which _stack refuses
            _refill(value, [logs[r][key][i] for r, i in order if i < len(logs[r][key])])


def _refill(column: deque, values: list) -> None:
    column.clear()
    column.extend(values)
