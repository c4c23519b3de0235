"""Worker of test_trl_engine.py, started by torchrun on 2 CPU processes (gloo): the checks that
need several processes, in one launch, each rank writing its results to OUT/rank-R.json.

- `errors`: every rank builds the same tiny random-init model and global batch, computes the
  1-process `pacs_loss` gradient of the whole batch as the reference, then its own share of the
  batch's rows in two micro-batches with `pacs_micro_loss`, averages the gradients over the ranks
  as DDP does, and reports the relative error of each layout.
- `trainer`: one step of the real PacsGRPOTrainer with gradient accumulation 2, for a layout of
  whole groups per micro-batch (TRL's rows shuffled by whole groups) and one with groups split
  across ranks and micro-batches: the loss path each micro-batch took, and the relative error of
  the DDP-averaged gradient against the 1-process `pacs_loss` gradient of the same rows.
- `eval`: the trainer's evaluation (batches shared over the 2 ranks) against a 1-process
  evaluation of the same weights.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from datasets import Dataset
from transformers import LlamaConfig, LlamaForCausalLM, TrainerCallback
from trl import GRPOConfig

from pacslab.demo_model import build_model, build_tokenizer

from pacslab.engines.trl.evaluation import Evaluation, evaluate_shared
from pacslab.engines.trl.loss import labels_gradient
from pacslab.engines.trl.trainer import PacsGRPOTrainer, pacs_micro_loss
from pacslab.evaluate import EvalSet
from pacslab.losses import pacs_loss
from pacslab.tasks import Example
from pacslab.verifiers import Verdict

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
        loss, _ = pacs_micro_loss(logp, logp.detach(), mask[rows], labels[rows], group_ids[rows], c[rows],
                                  rollout_n=N, beta=1.0, processes=world, accumulation=2, **OPTIONS)
        loss.backward()
    grad = flat_grad(model).clone()
    dist.all_reduce(grad)
    return grad / world


class RecordingTrainer(PacsGRPOTrainer):
    """Keeps each micro-batch's rows and the loss path it took."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.micro_batches: list[dict] = []

    def _compute_loss(self, model, inputs):
        loss = super()._compute_loss(model, inputs)
        keys = ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "pacs_labels", "pacs_group_ids",
                "old_per_token_logps")
        self.micro_batches.append({**{k: inputs[k].detach().clone() for k in keys},
                                   "whole": self._metrics["train"]["pacs/whole_group_frac"][-1] == 1.0})
        return loss


class GradientCheck(TrainerCallback):
    """Before the optimizer step: the DDP-averaged gradient against the 1-process `pacs_loss`
    gradient of every rank's rows (gathered), computed with the trainer's own log-prob function."""

    def __init__(self, trainer, rollout_n: int):
        self.trainer, self.n = trainer, rollout_n
        self.error: float | None = None

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        t = self.trainer
        parts = [None] * dist.get_world_size()
        dist.all_gather_object(parts, t.micro_batches)
        model = t.accelerator.unwrap_model(t.model_wrapped)
        params = [p for p in model.parameters() if p.requires_grad]
        logps, masks, labels, groups = [], [], [], []
        for mb in (mb for part in parts for mb in part):
            ids = torch.cat([mb["prompt_ids"], mb["completion_ids"]], dim=1)
            attention = torch.cat([mb["prompt_mask"], mb["completion_mask"]], dim=1)
            logp, _, _ = t._get_per_token_logps_and_entropies(model, ids, attention, mb["completion_ids"].size(1))  # [b, T]
            logps.append(logp)
            masks.append(mb["completion_mask"].float())
            labels.append(mb["pacs_labels"])
            groups.append(mb["pacs_group_ids"])
        width = max(x.shape[1] for x in logps)
        logp = torch.cat([torch.nn.functional.pad(x, (0, width - x.shape[1])) for x in logps])  # [B, T]
        mask = torch.cat([torch.nn.functional.pad(x, (0, width - x.shape[1])) for x in masks])  # [B, T]
        group_ids = torch.cat(groups)
        order = torch.argsort(group_ids, stable=True)  # [B]: each group's rows together
        loss, _ = pacs_loss(logp[order], logp[order].detach(), mask[order], torch.cat(labels)[order],
                            rollout_n=self.n, group_ids=group_ids[order], **OPTIONS)
        want = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)])
        got = torch.cat([p.grad.reshape(-1) for p in params])
        self.error = ((got - want).norm() / want.norm()).item()


def trainer_layout(out: Path, *, rollout_n: int, per_device: int) -> dict:
    """One step of RecordingTrainer with accumulation 2: each micro-batch's path and the gradient error."""
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed=0, layers=1, hidden=16, heads=2)
    prompts = Dataset.from_list([{"prompt": f"{a}+{b}="} for a in range(4) for b in range(4)])

    def alternating(completions, **_):  # mixed labels in every group
        return [float(i % 2) for i in range(len(completions))]

    args = GRPOConfig(output_dir=str(out / f"trl-{rollout_n}-{per_device}"), per_device_train_batch_size=per_device,
                      gradient_accumulation_steps=2, num_generations=rollout_n, max_completion_length=4, max_steps=1,
                      learning_rate=1e-3, max_grad_norm=0.0, beta=0.0, use_cpu=True, bf16=False, seed=0, report_to=[],
                      logging_steps=1, save_strategy="no", disable_tqdm=True)
    trainer = RecordingTrainer(model=model, processing_class=tokenizer, reward_funcs=[alternating], args=args,
                               train_dataset=prompts, algorithm="pacs", pacs_options={"beta": 1.0, **OPTIONS})
    check = GradientCheck(trainer, rollout_n)
    trainer.add_callback(check)
    trainer.train()
    return {"paths": [mb["whole"] for mb in trainer.micro_batches], "error": check.error, "trainer": trainer}


def eval_sets() -> list[EvalSet]:
    """Two sets whose batches do not divide evenly over 2 ranks, one with two data sources."""
    own = [Example(f"e{i}", f"{i}+{i}=", str(2 * i)) for i in range(5)]
    extra = [Example(f"x{i}", f"{i}*3=", str(3 * i), data_source="ab"[i % 2]) for i in range(6)]
    common = {"size": None, "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 4}
    return [EvalSet(None, own, samples=3, k=[1, 3], batch_prompts=2, **common),
            EvalSet("extra", extra, samples=2, k=[2], batch_prompts=4, **common)]


def odd_checksum(response: str, answer: str, prompt: str) -> Verdict:
    """A verifier whose labels vary on a random model's responses."""
    return Verdict(sum(map(ord, response)) % 2, response, "odd checksum")


def eval_check(trainer) -> dict:
    """The trainer's shared evaluation and a 1-process one of the same weights (every rank)."""
    trainer.evaluation = Evaluation(eval_sets(), odd_checksum, every=0)
    shared = trainer.evaluate()
    shared.pop("perf/eval_s")
    model = trainer.accelerator.unwrap_model(trainer.model_wrapped)
    alone = evaluate_shared(model, trainer.processing_class, trainer.evaluation.sets, odd_checksum,
                            seed=trainer.args.seed, step=trainer.state.global_step)
    return {"shared": shared, "alone": alone}


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
    whole = trainer_layout(out, rollout_n=2, per_device=2)  # 4 rows a rank: 2 groups, 1 a micro-batch
    split = trainer_layout(out, rollout_n=4, per_device=3)  # 6 rows a rank: group 1 on both ranks
    report = {"world": world, "errors": errors, "grad_norm": want.norm().item(),
              "trainer": {name: {k: v for k, v in r.items() if k != "trainer"} for name, r in
                          (("whole_groups", whole), ("split_groups", split))},
              "eval": eval_check(whole["trainer"])}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank-{rank}.json").write_text(json.dumps(report))
    dist.destroy_process_group()


if __name__ == "__main__":
    from pacslab.engines.trl.run import exit_finished_rank

    main(Path(sys.argv[1]))
    exit_finished_rank(0)  # as the engine's ranks end: no interpreter teardown, where gloo aborts 1 exit in 10
