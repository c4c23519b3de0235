"""`PacsGRPOTrainer`: TRL's GRPOTrainer with the losses of pacslab.losses and its labels and groups.

When a batch is scored, every process sees the whole global batch's rewards (TRL gathers them):
there the verifier's 0/1 labels, the group ids (rows g·n … g·n+n−1 of the gathered batch are
prompt g) and, for PACS, c = ∂L/∂r̂ are computed and sliced to this process's rows, so they
survive TRL's shuffle and split into micro-batches as per-row tensors. The loss of a micro-batch
is then `pacs_loss` itself when it holds whole groups, else Σ_j c_j r̂_j (loss.py); either way
the summed gradient is exactly the global batch's `pacs_loss` gradient.
"""

from __future__ import annotations

import torch
from trl import GRPOTrainer

from pacslab.engines.trl.loss import coupled_loss, labels_gradient, whole_groups
from pacslab.losses import pacs_loss, pacs_weights, rloo_advantages

LABELS, GROUPS, COEFFICIENTS = "pacs_labels", "pacs_group_ids", "pacs_c"


class PacsGRPOTrainer(GRPOTrainer):
    """`algorithm`: `pacs` (this class's loss, with `pacs_options`: beta, adv_estimator, norm_by_std,
    weight_mode), `grpo` (TRL's own loss) or `rloo` (TRL's surrogate on leave-one-out advantages)."""

    def __init__(self, *args, algorithm: str = "pacs", pacs_options: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if algorithm not in ("pacs", "grpo", "rloo"):
            raise ValueError(f"algorithm is {algorithm!r}: engine: trl runs pacs, grpo or rloo")
        self.algorithm = algorithm
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
        if self.algorithm == "rloo":
            advantages = rloo_advantages(labels, rollout_n=n, group_ids=group_ids)  # [N]
            output["advantages"] = advantages[local].to(torch.float32)
            self.sample_fields = {"advantage": advantages.tolist()}  # the records show these, not TRL's
        elif self.algorithm == "pacs" and self.model.training:
            c, metrics = labels_gradient(labels, group_ids, rollout_n=n, **self.pacs_options)
            output[COEFFICIENTS] = c[local]
            self.sample_fields = _sample_fields(labels, rollout_n=n, weight_mode=self.pacs_options.get("weight_mode", "question"))
            for name, value in metrics.items():
                self._metrics["train"][name].append(value)
        return output

    def _compute_loss(self, model, inputs):
        if self.algorithm != "pacs" or not model.training:
            return super()._compute_loss(model, inputs)
        prompt_ids, completion_ids = inputs["prompt_ids"], inputs["completion_ids"]
        mask = inputs["completion_mask"]  # [b, T]
        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], mask], dim=1)
        logp, _, _ = self._get_per_token_logps_and_entropies(model, input_ids, attention_mask,
                                                             completion_ids.size(1))  # [b, T]
        old_logp = inputs.get("old_per_token_logps")
        old_logp = logp.detach() if old_logp is None else old_logp  # [b, T]
        return pacs_micro_loss(logp, old_logp, mask, inputs[LABELS], inputs[GROUPS], inputs[COEFFICIENTS],
                               rollout_n=self.num_generations, beta=self.pacs_beta,
                               processes=self.accelerator.num_processes,
                               accumulation=self.current_gradient_accumulation_steps, **self.pacs_options)


def _sample_fields(labels: torch.Tensor, *, rollout_n: int, weight_mode: str) -> dict[str, list]:
    """The PACS fields of each sample where they are taken, at θ = θ_old: r̂ = ψ = 0, σ(ψ) = ½."""
    weights = pacs_weights(labels, rollout_n=rollout_n, weight_mode=weight_mode)  # [N]
    zeros = [0.0] * labels.shape[0]
    return {"logratio": zeros, "psi": zeros, "p_correct": [0.5] * labels.shape[0],
            "grad_weight": (labels - 0.5).tolist(), "weight": weights.tolist()}


def pacs_micro_loss(logp, old_logp, mask, labels, group_ids, c, *, rollout_n: int, beta: float, processes: int,
                    accumulation: int, **options) -> torch.Tensor:
    """One micro-batch's PACS loss, scaled so that the gradients summed over the `accumulation`
    equal micro-batches and averaged over the `processes` are the global batch's ∇L: `pacs_loss`
    of these rows / accumulation when they are whole groups, else processes · Σ_j c_j r̂_j."""
    if whole_groups(group_ids, rollout_n):
        loss, _ = pacs_loss(logp, old_logp, mask, labels, rollout_n=rollout_n, beta=beta, reward_method="logratio",
                            group_ids=group_ids, **options)
        return loss / accumulation
    return coupled_loss(logp, old_logp, mask, c, beta=beta, scale=processes)
