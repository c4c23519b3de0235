"""`PacsGRPOTrainer`: TRL's GRPOTrainer with the losses of pacslab.losses and its labels and groups.

When a batch is scored, every process sees the whole global batch's rewards (TRL gathers them):
there the verifier's 0/1 labels, the group ids (rows g·n … g·n+n−1 of the gathered batch are
prompt g) and, for PACS, c = ∂L/∂r̂ are computed and sliced to this process's rows, so they
survive TRL's shuffle and split into micro-batches as per-row tensors. The loss of a micro-batch
is then `pacs_loss` itself when it holds whole groups, else Σ_j c_j r̂_j (loss.py); either way
the summed gradient is exactly the global batch's `pacs_loss` gradient. By default the rows are
shuffled by whole groups, so that when a micro-batch's rows are a multiple of n every micro-batch
is whole groups; `pacs/whole_group_frac` logs the share of rank 0's micro-batches that were.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import torch
from trl import GRPOTrainer
from trl.models import unwrap_model_for_generation
from trl.trainer.utils import split_pixel_values_by_grid, split_tensor_dict, unsplit_pixel_values_by_grid

from pacslab import algorithms
from pacslab.engines.trl.evaluation import Evaluation, evaluate_shared
from pacslab.engines.trl.loss import coupled_loss, labels_gradient, shuffle_groups, whole_groups
from pacslab.losses import pacs_loss, pacs_weights

LABELS, GROUPS, COEFFICIENTS = "pacs_labels", "pacs_group_ids", "pacs_c"


class PacsGRPOTrainer(GRPOTrainer):
    """`algorithm`: `pacs` (this class's loss, with `pacs_options`: beta, adv_estimator, norm_by_std,
    weight_mode), `grpo` (TRL's own loss) or `rloo` (TRL's surrogate on leave-one-out advantages).
    `evaluation`: what `evaluate` runs instead of TRL's own evaluation loop (evaluation.py).
    `group_shuffle`: shuffle a generation batch by whole groups (the default) rather than by rows."""

    def __init__(self, *args, algorithm: str = "pacs", pacs_options: dict | None = None,
                 evaluation: Evaluation | None = None, group_shuffle: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if algorithm not in algorithms.run_on("trl"):
            raise ValueError(f"algorithm is {algorithm!r}: engine: trl runs {', '.join(algorithms.run_on('trl'))}")
        self.algorithm = algorithm
        entry = algorithms.get(algorithm)
        self.coupled = entry.coupling is not None  # PACS: this class's own loss
        self.own_advantages = entry.advantages if entry.trl_replaces_advantages else None  # RLOO's, not TRL's
        self.evaluation = evaluation
        self.group_shuffle = group_shuffle
        self.pacs_options = dict(pacs_options or {})
        self.pacs_beta = self.pacs_options.pop("beta", 1.0)
        self._global_labels: torch.Tensor | None = None
        self.sample_fields: dict[str, list] = {}  # per sample of the latest global batch, for the rollout records

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)  # [N, F]
        weights = self.reward_weights.to(rewards_per_func.device)
        self._global_labels = torch.nan_to_num((rewards_per_func * weights.unsqueeze(0)).nansum(dim=1))  # [N]
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        labels, n = self._global_labels, self.num_generations
        group_ids = torch.arange(labels.shape[0], device=labels.device) // n  # [N]
        rows = output["completion_ids"].shape[0]
        local = slice(self.accelerator.process_index * rows, (self.accelerator.process_index + 1) * rows)
        output[LABELS], output[GROUPS] = labels[local], group_ids[local]
        if self.own_advantages is not None:
            advantages = self.own_advantages(labels, group_ids, n)  # [N]
            output["advantages"] = advantages[local].to(torch.float32)
            self.sample_fields = {"advantage": advantages.tolist()}  # the records show these, not TRL's
        elif self.coupled and self.model.training:
            c, metrics = labels_gradient(labels, group_ids, rollout_n=n, **self.pacs_options)
            output[COEFFICIENTS] = c[local]
            self.sample_fields = _sample_fields(labels, rollout_n=n, weight_mode=self.pacs_options.get("weight_mode", "question"))
            for name, value in metrics.items():
                self._metrics["train"][name].append(value)
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
        if not self.coupled or not model.training:
            return super()._compute_loss(model, inputs)
        prompt_ids, completion_ids = inputs["prompt_ids"], inputs["completion_ids"]
        mask = inputs["completion_mask"]  # [b, T]
        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], mask], dim=1)
        logp, _, _ = self._get_per_token_logps_and_entropies(model, input_ids, attention_mask,
                                                             completion_ids.size(1))  # [b, T]
        old_logp = inputs.get("old_per_token_logps")
        old_logp = logp.detach() if old_logp is None else old_logp  # [b, T]
        loss, whole = pacs_micro_loss(logp, old_logp, mask, inputs[LABELS], inputs[GROUPS], inputs[COEFFICIENTS],
                                      rollout_n=self.num_generations, beta=self.pacs_beta,
                                      processes=self.accelerator.num_processes,
                                      accumulation=self.current_gradient_accumulation_steps, **self.pacs_options)
        self._metrics["train"]["pacs/whole_group_frac"].append(float(whole))
        return loss


def _sample_fields(labels: torch.Tensor, *, rollout_n: int, weight_mode: str) -> dict[str, list]:
    """The PACS fields of each sample where they are taken, at θ = θ_old: r̂ = ψ = 0, σ(ψ) = ½."""
    weights = pacs_weights(labels, rollout_n=rollout_n, weight_mode=weight_mode)  # [N]
    zeros = [0.0] * labels.shape[0]
    return {"logratio": zeros, "psi": zeros, "p_correct": [0.5] * labels.shape[0],
            "grad_weight": (labels - 0.5).tolist(), "weight": weights.tolist()}


def pacs_micro_loss(logp, old_logp, mask, labels, group_ids, c, *, rollout_n: int, beta: float, processes: int,
                    accumulation: int, **options) -> tuple[torch.Tensor, bool]:
    """One micro-batch's PACS loss, scaled so that the gradients summed over the `accumulation`
    equal micro-batches and averaged over the `processes` are the global batch's ∇L, and whether
    its rows were whole groups: then `pacs_loss` of these rows / accumulation, else
    processes · Σ_j c_j r̂_j."""
    if whole_groups(group_ids, rollout_n):
        loss, _ = pacs_loss(logp, old_logp, mask, labels, rollout_n=rollout_n, beta=beta, reward_method="logratio",
                            group_ids=group_ids, **options)
        return loss / accumulation, True
    return coupled_loss(logp, old_logp, mask, c, beta=beta, scale=processes), False
