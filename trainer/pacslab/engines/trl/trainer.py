"""`PacsGRPOTrainer`: TRL's GRPOTrainer with the losses of pacslab.losses and its labels and groups.

When a batch is scored, every process sees the whole global batch's rewards (TRL gathers them):
there the verifier's 0/1 labels, the group ids (rows g·n … g·n+n−1 of the gathered batch are
prompt g) and the row numbers are sliced to this process's rows, so they survive TRL's shuffle and
split into micro-batches as per-row tensors. Each mini-batch (`gradient_accumulation_steps`
micro-batches on every process, one optimizer step; `steps_per_generation` / accumulation of them
per rollout batch, `num_iterations` passes) takes its loss at the current θ (minibatch.py):
`pacs_loss` itself where every micro-batch holds whole groups, else Σ_j c_j r̂_j with c = ∂L/∂r̂
recomputed for the mini-batch. By default the rows are shuffled by whole groups, so that when a
micro-batch's rows are a multiple of n every micro-batch is whole groups; `pacs/whole_group_frac`
logs the share of rank 0's micro-batches that took that path.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable

import torch
from trl import GRPOTrainer
from trl.models import unwrap_model_for_generation
from trl.trainer.utils import split_pixel_values_by_grid, split_tensor_dict, unsplit_pixel_values_by_grid

from pacslab import algorithms
from pacslab.engines.trl.evaluation import Evaluation, evaluate_shared
from pacslab.engines.trl.loss import coupled_loss, shuffle_groups, whole_groups
from pacslab.engines.trl.minibatch import (FieldLog, MiniBatch, coupled_coefficients, critic_after_update,
                                           gathered, on_every_process)
from pacslab.engines.trl.sampling import generate_mixed
from pacslab.losses import pacs_loss, pacs_rhat, pacs_weights

LABELS, GROUPS, ROWS = "pacs_labels", "pacs_group_ids", "pacs_rows"


class PacsGRPOTrainer(GRPOTrainer):
    """`algorithm`: `pacs` (this class's loss, with `pacs_options`: beta, adv_estimator, norm_by_std,
    weight_mode), `grpo` (TRL's own loss) or `rloo` (the registry's `trl_loss`, the native `rloo_loss`,
    on leave-one-out advantages).
    `evaluation`: what `evaluate` runs instead of TRL's own evaluation loop (evaluation.py).
    `group_shuffle`: shuffle a generation batch by whole groups (the default) rather than by rows.
    `updates_per_step`: optimizer steps (TRL's steps) per rollout batch, so the run's steps count rollout batches.
    `lr_schedule`: the learning rate of each 1-based run step (pacslab.schedule.lr_at), held across
    its optimizer steps as the native engine holds it; None keeps the scheduler of TRL's arguments.
    `dynamic_sampling_rounds`: with rollout.dynamic_sampling, its most generation rounds a step (0 = off)."""

    def __init__(self, *args, algorithm: str = "pacs", pacs_options: dict | None = None,
                 evaluation: Evaluation | None = None, group_shuffle: bool = True, updates_per_step: int = 1,
                 lr_schedule: Callable[[int], float] | None = None, dynamic_sampling_rounds: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.lr_schedule = lr_schedule
        if algorithm not in algorithms.run_on("trl"):
            raise ValueError(f"algorithm is {algorithm!r}: engine: trl runs {', '.join(algorithms.run_on('trl'))}")
        self.updates_per_step = updates_per_step
        self.dynamic_sampling_rounds = dynamic_sampling_rounds
        self.algorithm = algorithm
        entry = algorithms.get(algorithm)
        self.coupled = entry.coupling is not None  # PACS: this class's own loss
        self.own_advantages = entry.advantages if entry.trl_replaces_advantages else None  # RLOO's, not TRL's
        self.own_loss = entry.trl_loss  # RLOO's: token sums, no ratio (TRL's surrogate averages each response's tokens)
        self.evaluation = evaluation
        self.group_shuffle = group_shuffle
        self.pacs_options = dict(pacs_options or {})
        self.pacs_beta = self.pacs_options.pop("beta", 1.0)
        self.pacs_reward_method = self.pacs_options.pop("reward_method", "logratio")
        self._mini: MiniBatch | None = None  # the current mini-batch's path (minibatch.py)
        self._mini_items: torch.Tensor | None = None  # the current mini-batch's num_items_in_batch (loss_type dapo)
        self._fields = FieldLog()
        self._global_labels: torch.Tensor | None = None
        self.sample_fields: dict[str, list] = {}  # per sample of the latest global batch, for the rollout records
        self.dropped_prompts: list[tuple] = []  # the groups dynamic sampling left out of the latest batch (sampling.py)

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        """With `lr_schedule`: optimizer step k (0-based) takes the rate of run step k // updates_per_step + 1,
        where TRL's own schedulers would step the rate every optimizer step from 0."""
        if self.lr_schedule is None or self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        peak, schedule, updates = self.args.learning_rate, self.lr_schedule, self.updates_per_step
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer,
                                                              lambda k: schedule(k // updates + 1) / peak)
        self._created_lr_scheduler = True
        return self.lr_scheduler

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)  # [N, F]
        weights = self.reward_weights.to(rewards_per_func.device)
        self._global_labels = torch.nan_to_num((rewards_per_func * weights.unsqueeze(0)).nansum(dim=1))  # [N]
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        self.dropped_prompts = []
        if self.dynamic_sampling_rounds and self.model.training:  # rollout.dynamic_sampling (sampling.py)
            output = generate_mixed(self, inputs, super()._generate_and_score_completions,
                                    max_rounds=self.dynamic_sampling_rounds)
        else:
            output = super()._generate_and_score_completions(inputs)
        labels, n = self._global_labels, self.num_generations
        group_ids = torch.arange(labels.shape[0], device=labels.device) // n  # [N]
        rows = output["completion_ids"].shape[0]
        local = slice(self.accelerator.process_index * rows, (self.accelerator.process_index + 1) * rows)
        output[LABELS], output[GROUPS] = labels[local], group_ids[local]
        output[ROWS] = torch.arange(labels.shape[0], device=labels.device)[local]
        if self.own_advantages is not None:
            advantages = self.own_advantages(labels, group_ids, n)  # [N]
            output["advantages"] = advantages[local].to(torch.float32)
            self.sample_fields = {"advantage": advantages.tolist()}  # the records show these, not TRL's
        elif self.coupled and self.model.training:
            self.sample_fields = _sample_fields(labels, rollout_n=n, weight_mode=self.pacs_options.get("weight_mode", "question"))
        return output

    def _prepare_inputs(self, generation_batch):
        """TRL's, with the generation batch shuffled by whole groups before it is split into
        micro-batches (each rank's rows are whole contiguous groups when they are a multiple of n)."""
        if not (self.group_shuffle and self.model.training):
            return super()._prepare_inputs(generation_batch)
        steps = self.args.steps_per_generation
        if self._step % (steps * self.num_iterations) == 0 or self._buffered_inputs is None:
            batch = split_pixel_values_by_grid(self._generate_and_score_completions(generation_batch))
            batch = shuffle_groups(batch, self.num_generations)
            self._buffered_inputs = [unsplit_pixel_values_by_grid(b) for b in split_tensor_dict(batch, steps)]
        return self._buffered_inputs[self._step % steps]

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        """With an `evaluation`: the native engine's eval values of the current weights, shared out
        over the processes (every rank must call it), passed to the callbacks' on_evaluate."""
        if self.evaluation is None:
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        e, start = self.evaluation, time.perf_counter()
        shared = self._generation_is_local()
        self.heldout_examples = []  # each example's result, for the callback that writes the run (health/run.py)
        with self._generation_model() as model:
            values = evaluate_shared(model, self.processing_class, e.sets, e.verifier, seed=self.args.seed,
                                     step=self.state.global_step, rank=self.accelerator.process_index if shared else 0,
                                     world=self.accelerator.num_processes if shared else 1, examples=self.heldout_examples)
        values["perf/eval_s"] = time.perf_counter() - start
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, values)
        return values

    def _generation_is_local(self) -> bool:
        """Whether a forward pass of the generation model runs no collective, so ranks may generate
        different batches: not under FSDP2 or ZeRO-3 without gathered parameters, where every rank
        evaluates every batch in step instead (the same values, no sharing)."""
        zero3_sharded = self._dist.is_zero3 and not self.args.ds3_gather_for_generation
        return not (zero3_sharded or self._dist.fsdp_version == 2)

    @contextmanager
    def _generation_model(self):
        """The model as TRL's own generation takes it: unwrapped, ZeRO-3 parameters gathered, FSDP1's summoned."""
        with (unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                          gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                                          gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs) as model,
              torch.no_grad(), self._dist.summon_full_params(self.model_wrapped, recurse=False)):
            yield model

    def _compute_loss(self, model, inputs):
        if self.own_loss is not None and model.training:
            return self._registry_loss(model, inputs)
        if not self.coupled or not model.training:
            if model.training and self.loss_type == "dapo":
                inputs["num_items_in_batch"] = self._mini_batch_items(inputs["completion_mask"].device)
            return super()._compute_loss(model, inputs)
        accumulation = self.current_gradient_accumulation_steps
        position = self._step % accumulation  # this micro-batch's place in its mini-batch
        if position == 0 or self._mini is None:
            self._mini = self._plan_mini_batch(model, accumulation)
        logp, old_logp, mask = self._pacs_forward(model, inputs)
        inputs.setdefault("old_per_token_logps", old_logp)  # θ_old's, for the critic after the update
        first_pass = self._step % self._generate_every() < self.args.steps_per_generation
        if self._mini.whole:
            loss, metrics = pacs_loss(logp, old_logp, mask, inputs[LABELS], rollout_n=self.num_generations,
                                      beta=self.pacs_beta, reward_method=self.pacs_reward_method,
                                      group_ids=inputs[GROUPS], **self.pacs_options)
            loss = loss / accumulation
            if first_pass:
                self._fields.add(inputs[ROWS], {k.removeprefix("per_sample/"): v for k, v in metrics.items()
                                                if k.startswith("per_sample/")} | {"logratio": metrics["per_sample/rhat"]})
            self._log_metrics(metrics)
        else:
            loss = coupled_loss(logp, old_logp, mask, self._mini.c[position], beta=self.pacs_beta,
                                scale=self.accelerator.num_processes, reward_method=self.pacs_reward_method)
        self._metrics["train"]["pacs/whole_group_frac"].append(float(self._mini.whole))
        if self._step % self._generate_every() == self.args.steps_per_generation - 1:
            self._fields.collect(self.sample_fields)  # every process: the first pass's fields, on rank 0's records
        return loss

    def _registry_loss(self, model, inputs) -> torch.Tensor:
        """The registry's `trl_loss` of this micro-batch, a mean over its rows, over the accumulation: TRL's
        micro-batches are equal on every process, so the gradients summed over them and averaged over
        the processes are those of the mini-batch's row mean, the native engine's."""
        logp, old_logp, mask = self._pacs_forward(model, inputs)  # [b, T] each
        x = algorithms.LossInput(logp, old_logp, mask, inputs[LABELS], inputs[GROUPS], inputs.get("ref_per_token_logps"),
                                 inputs["advantages"], self.num_generations)
        loss, metrics = self.own_loss(x)
        self._log_metrics(metrics)
        return loss / self.current_gradient_accumulation_steps

    def _mini_batch_items(self, device) -> torch.Tensor:
        """TRL's `num_items_in_batch` under which `dapo` divides by this mini-batch's real tokens over
        every process (the native token mean): TRL divides by num_items_in_batch × accumulation /
        steps_per_generation, meant for the whole generation batch's tokens, i.e. their mean per mini-batch."""
        accumulation = self.current_gradient_accumulation_steps
        if self._step % accumulation == 0 or self._mini_items is None:
            first = self._step % self.args.steps_per_generation
            local = sum(mb["completion_mask"].sum() for mb in self._buffered_inputs[first : first + accumulation])
            tokens = gathered(local.reshape(1).to(device=device, dtype=torch.float32)).sum()
            self._mini_items = tokens * self.args.steps_per_generation / accumulation
        return self._mini_items

    def critic_after_update(self) -> dict | None:
        """ψ_post of the rollout batch after its updates: records' fields and critic/* (minibatch.py)."""
        return critic_after_update(self, self.model, self._pacs_forward, rows_key=ROWS, labels_key=LABELS,
                                   groups_key=GROUPS)

    def _generate_every(self) -> int:
        return self.args.steps_per_generation * self.num_iterations

    def _pacs_forward(self, model, inputs):
        """(logp [b, T] with gradient where enabled, old_logp [b, T], mask [b, T]) of a micro-batch."""
        prompt_ids, completion_ids = inputs["prompt_ids"], inputs["completion_ids"]
        mask = inputs["completion_mask"]  # [b, T]
        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], mask], dim=1)
        logp, _, _ = self._get_per_token_logps_and_entropies(model, input_ids, attention_mask,
                                                             completion_ids.size(1))  # [b, T]
        old_logp = inputs.get("old_per_token_logps")
        return logp, (logp.detach() if old_logp is None else old_logp), mask

    def _plan_mini_batch(self, model, accumulation: int) -> MiniBatch:
        """The path of the mini-batch that starts at this micro-batch, agreed by every process: whole
        groups in every micro-batch, else this process's c per micro-batch at the current θ."""
        first = self._step % self.args.steps_per_generation
        micro = self._buffered_inputs[first : first + accumulation]
        device = micro[0][LABELS].device
        if on_every_process(all(whole_groups(mb[GROUPS], self.num_generations) for mb in micro), device):
            return MiniBatch(whole=True)
        at_old = self._step % self._generate_every() < accumulation  # no update yet on this rollout batch
        if at_old and self.pacs_reward_method == "logratio":  # r̂ ≡ 0 at θ_old: no forward pass
            rhat = torch.zeros(sum(mb[LABELS].shape[0] for mb in micro), dtype=torch.float64, device=device)
        else:
            with torch.no_grad():
                rhat = torch.cat([pacs_rhat(*self._pacs_forward(model, mb), beta=self.pacs_beta,
                                            reward_method=self.pacs_reward_method) for mb in micro])  # [b·A]
        c, metrics, fields = coupled_coefficients(rhat, torch.cat([mb[LABELS] for mb in micro]),
                                                  torch.cat([mb[GROUPS] for mb in micro]),
                                                  rollout_n=self.num_generations, **self.pacs_options)
        if self._step % self._generate_every() < self.args.steps_per_generation:
            self._fields.add(torch.cat([mb[ROWS] for mb in micro]), fields)
        for _ in micro:  # one value per micro-batch, as on the whole-group path
            self._log_metrics(metrics)
        return MiniBatch(whole=False, c=list(c.split([mb[LABELS].shape[0] for mb in micro])))

    def _log_metrics(self, metrics: dict) -> None:
        for name, value in metrics.items():
            if not name.startswith("per_sample/"):
                self._metrics["train"][name].append(float(value))


def _sample_fields(labels: torch.Tensor, *, rollout_n: int, weight_mode: str) -> dict[str, list]:
    """The PACS fields of each sample, filled in as the loss takes them in its first pass over the
    batch (minibatch.FieldLog): at θ = θ_old with `logratio` r̂ = ψ = 0, σ(ψ) = ½."""
    weights = pacs_weights(labels, rollout_n=rollout_n, weight_mode=weight_mode)  # [N]
    empty = [None] * labels.shape[0]
    return {"logratio": list(empty), "psi": list(empty), "p_correct": list(empty), "grad_weight": list(empty),
            "weight": weights.tolist()}


def pacs_micro_loss(logp, old_logp, mask, labels, group_ids, c, *, rollout_n: int, beta: float, processes: int,
                    accumulation: int, reward_method: str = "logratio", **options) -> tuple[torch.Tensor, bool]:
    """One micro-batch's PACS loss, scaled so that the gradients summed over the `accumulation`
    equal micro-batches and averaged over the `processes` are the mini-batch's ∇L, and whether
    its rows were whole groups: then `pacs_loss` of these rows / accumulation, else
    processes · Σ_j c_j r̂_j with c = ∂L/∂r̂ of the whole mini-batch at the current θ."""
    if whole_groups(group_ids, rollout_n):
        loss, _ = pacs_loss(logp, old_logp, mask, labels, rollout_n=rollout_n, beta=beta, reward_method=reward_method,
                            group_ids=group_ids, **options)
        return loss / accumulation, True
    return coupled_loss(logp, old_logp, mask, c, beta=beta, scale=processes, reward_method=reward_method), False
