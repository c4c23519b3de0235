"""The update phase of a native step, beside the loop (loop.py mixes `Updates` into its Trainer):
the batch cut into mini-batches of whole groups and micro-batches by a token budget, the forward
passes (no-grad, reference, the update's own), the loss of the algorithm, gradient accumulation
(plain and coupled) and the optimizer step."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from pacslab.algorithms import LossInput
from pacslab.config import Config
from pacslab.models import can_share_prompts, grouped_sequence_logprobs, has_lora, sequence_logprobs, set_adapters, set_training
from pacslab.rollout import RolloutBatch
from pacslab.tasks import Example


@dataclass
class StepData:
    """What one step's phases hand to the next."""

    examples: list[Example]
    batch: RolloutBatch
    verdicts: list
    labels: torch.Tensor  # [B] float32, 0/1
    group_ids: torch.Tensor  # [B]
    old_logp: torch.Tensor  # [B, R]; filled by the update itself when `fused_old`
    ref_logp: torch.Tensor | None  # [B, R]
    entropy: torch.Tensor  # [B, R] of π_old; filled by the update itself when `fused_old`
    fused_old: bool  # old_logp is the update's own forward at θ_old (one optimizer step per batch)
    minis: list[list[slice]]  # the mini-batches (whole groups), each a list of micro-batches (any rows)


def token_micro_batches(lengths: list[int], prompt_len: int, budget: int, start: int, stop: int) -> list[slice]:
    """Rows start..stop cut into runs whose rows × (prompt_len + longest response) ≤ `budget`
    (the positions of one padded forward pass); a row over the budget on its own runs alone."""
    slices, first, longest = [], start, 0
    for row in range(start, stop):
        length = max(1, lengths[row])
        if row > first and (row + 1 - first) * (prompt_len + max(longest, length)) > budget:
            slices.append(slice(first, row))
            first, longest = row, 0
        longest = max(longest, length)
    slices.append(slice(first, stop))
    return slices


def make_optimizer(model: torch.nn.Module, cfg: Config) -> torch.optim.AdamW:
    """AdamW with PyTorch's fused kernel (one kernel for the whole update, on CPU and CUDA), or its
    `foreach` form (one kernel per operation) where this device or dtype has no fused kernel."""
    params = [p for p in model.parameters() if p.requires_grad]
    kwargs = {"lr": cfg.optim.lr, "betas": tuple(cfg.optim.betas), "weight_decay": cfg.optim.weight_decay}
    try:
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except RuntimeError:
        return torch.optim.AdamW(params, foreach=True, **kwargs)


class Updates:
    """The update phase's methods of the native Trainer (its state lives on the Trainer)."""

    def _partition(self, batch: RolloutBatch) -> list[list[slice]]:
        """Mini-batches of whole groups, each cut into micro-batches: optim.micro_batch_prompts groups,
        or runs of rows within optim.micro_batch_tokens (which may split groups)."""
        o, n = self.cfg.optim, self.n
        total, mini_rows = self.cfg.rollout.prompts_per_step * n, o.mini_batch_prompts * n
        minis = []
        for start in range(0, total, mini_rows):
            stop = start + mini_rows
            if o.micro_batch_tokens is None:
                step = o.micro_batch_prompts * n
                minis.append([slice(a, a + step) for a in range(start, stop, step)])
            else:
                minis.append(token_micro_batches(batch.lengths, batch.prompt_len, o.micro_batch_tokens, start, stop))
        return minis

    def _whole_groups(self, rows: slice) -> bool:
        return rows.start % self.n == 0 and rows.stop % self.n == 0

    def _one_update_per_batch(self) -> bool:
        o = self.cfg.optim
        return o.epochs == 1 and o.mini_batch_prompts == self.cfg.rollout.prompts_per_step

    def _compute(self):
        """Autocast to the compute dtype around a forward pass (the weights stay float32)."""
        if self.compute_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.compute_dtype)

    def _forward(self, model, batch: RolloutBatch, rows: slice, *, return_entropy: bool = False):
        """Log-probs of `rows` at the rollout temperature, the response trimmed to its longest real
        response: [b, r].

        Each group's prompt runs once and its n responses read it from the KV cache
        (optim.share_prompts, for rows of whole groups), else every row runs prompt + response.
        """
        cfg = self.cfg
        response_mask = batch.response_mask[rows]  # [b, R]
        width = int(response_mask.sum(1).max().item()) or 1
        prompt_len = batch.prompt_len
        options = {"return_entropy": return_entropy, "temperature": cfg.rollout.temperature,
                   "chunk_tokens": cfg.optim.logprob_chunk_tokens}
        with self._compute():
            if cfg.optim.share_prompts and self.n > 1 and self._whole_groups(rows) and can_share_prompts(model):
                group_rows = slice(rows.start, rows.stop, self.n)  # the first row of each group
                # whole groups by construction (the rollout repeats each prompt n times; the losses check group_ids)
                return grouped_sequence_logprobs(model, batch.input_ids[group_rows, :prompt_len],
                                                 batch.attention_mask[group_rows, :prompt_len],
                                                 batch.input_ids[rows, prompt_len : prompt_len + width],
                                                 response_mask[:, :width], n=self.n, **options)
            input_ids = batch.input_ids[rows, : prompt_len + width]  # [b, P+r]
            attention_mask = batch.attention_mask[rows, : prompt_len + width]  # [b, P+r]
            return sequence_logprobs(model, input_ids, attention_mask, response_mask[:, :width], **options)

    @torch.no_grad()
    def _logprobs_no_grad(self, model, batch: RolloutBatch, micro: list[slice], *, return_entropy: bool = False):
        """[B, R] log-probs (and entropies) by the update's micro-batches, zero past each row's response."""
        was_training = model.training
        set_training(model, False)
        shape = batch.response_mask.shape
        logp = torch.zeros(shape, device=self.device)
        entropy = torch.zeros(shape, device=self.device) if return_entropy else None
        for rows in micro:
            lp, ent = self._forward(model, batch, rows, return_entropy=return_entropy)
            logp[rows, : lp.shape[1]] = lp.float()
            if entropy is not None:
                entropy[rows, : ent.shape[1]] = ent.float()
        set_training(model, was_training)
        return logp, entropy

    def _reference_logprobs(self, batch: RolloutBatch, micro: list[slice]) -> torch.Tensor | None:
        """[B, R] log-probs of the frozen reference when a KL term asks: the base model, or with LoRA
        the policy with its adapters switched off."""
        if self.ref_model is not None:
            return self._logprobs_no_grad(self.ref_model, batch, micro)[0]
        if not (self.algorithm.needs_reference(self.cfg) and has_lora(self.model)):
            return None
        set_adapters(self.model, False)
        try:
            return self._logprobs_no_grad(self.model, batch, micro)[0]
        finally:
            set_adapters(self.model, True)

    def _update_forward(self, d: StepData, rows: slice):
        """(logp with gradient, old_logp, mask) of `rows`, [b, r] each."""
        logp, entropy = self._forward(self.model, d.batch, rows, return_entropy=d.fused_old)  # [b, r] each
        width = logp.shape[1]
        if d.fused_old:  # this forward runs at θ_old: its values are old_logp (see train_step)
            d.old_logp[rows, :width] = logp.detach().float()
            d.entropy[rows, :width] = entropy.float()
        return logp, d.old_logp[rows, :width], d.batch.response_mask[rows, :width]

    def _loss(self, d: StepData, rows: slice, advantages: torch.Tensor | None):
        """(loss, loggable metrics) of one micro-batch: a mean over its own rows or tokens."""
        logp, old, mask = self._update_forward(d, rows)
        ref = d.ref_logp[rows, : logp.shape[1]] if d.ref_logp is not None else None
        loss, metrics = self.algorithm.loss(self.cfg, LossInput(logp, old, mask, d.labels[rows], d.group_ids[rows], ref,
                                                                advantages, self.n))
        return loss, {k: v for k, v in metrics.items() if not k.startswith("per_sample/")}

    def _size(self, d: StepData, rows: slice) -> float:
        """The micro-batch's share of its mini-batch's mean: its rows, or its real tokens."""
        if self.algorithm.aggregation == "tokens":
            return float(d.batch.response_mask[rows].sum())
        return float(rows.stop - rows.start)

    def _accumulate(self, d: StepData, mini: list[slice], advantages: torch.Tensor | None) -> dict[str, float]:
        """Backward of the mini-batch's loss as micro-batch losses weighted by their share; its metrics."""
        sizes = [self._size(d, rows) for rows in mini]
        total = sum(sizes) or 1.0
        start, out = mini[0].start, {}
        for rows, size in zip(mini, sizes):
            adv = None if advantages is None else advantages[rows.start - start : rows.stop - start]
            loss, metrics = self._loss(d, rows, adv)
            (loss * (size / total)).backward()
            for k, v in metrics.items():
                out[k] = out.get(k, 0.0) + float(v) * size / total
        return out

    def _accumulate_coupled(self, d: StepData, mini: list[slice], at_old: bool) -> dict[str, float]:
        """The exact gradient of a loss that couples a group's rows (PACS) under micro-batches that
        split groups: c = ∂L/∂p over the whole mini-batch from detached proxies p (no forward pass at
        θ = θ_old where p ≡ 0), then Σ_j c_j · p_j backpropagated over each micro-batch."""
        cfg, coupling = self.cfg, self.algorithm.coupling
        span = slice(mini[0].start, mini[-1].stop)
        if at_old and coupling.zero_at_old(cfg):
            proxy = torch.zeros(span.stop - span.start, device=self.device)  # [b]
        else:
            with torch.no_grad():
                proxy = torch.cat([coupling.proxy(cfg, *self._update_forward(d, rows)) for rows in mini])  # [b]
        c, metrics = coupling.gradient(cfg, proxy, d.labels[span], d.group_ids[span], self.n)  # [b]
        for rows in mini:
            local = c[rows.start - span.start : rows.stop - span.start]  # [m]
            (local * coupling.proxy(cfg, *self._update_forward(d, rows))).sum().backward()
        return {k: float(v) for k, v in metrics.items()}

    def _updates(self, d: StepData) -> dict[str, float]:
        """Per mini-batch (whole groups), micro-batch gradient accumulation, one optimizer step; `epochs` passes."""
        cfg, algorithm = self.cfg, self.algorithm
        set_training(self.model, True)
        params = [p for p in self.model.parameters() if p.requires_grad]
        clip = cfg.optim.max_grad_norm or float("inf")
        sums: dict[str, float] = {}
        norms, skipped, updates = [], 0, 0
        for _ in range(cfg.optim.epochs):
            for mini in d.minis:
                self.optimizer.zero_grad(set_to_none=True)
                if all(self._whole_groups(rows) for rows in mini):
                    metrics = self._accumulate(d, mini, advantages=None)
                elif algorithm.coupling is not None:
                    metrics = self._accumulate_coupled(d, mini, at_old=len(norms) == 0)
                else:  # a row-separable loss: its advantages come from the whole mini-batch's groups
                    span = slice(mini[0].start, mini[-1].stop)
                    advantages = algorithm.advantages(d.labels[span], d.group_ids[span], self.n)
                    metrics = self._accumulate(d, mini, advantages=advantages)
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0.0) + v
                norm = torch.nn.utils.clip_grad_norm_(params, clip)
                updates += 1
                if torch.isfinite(norm):
                    self.optimizer.step()
                    norms.append(norm.item())
                else:
                    skipped += 1
                    self.optimizer.zero_grad(set_to_none=True)
                    self.events.emit("log", step=self.step, level="warning",
                                     message=f"skipped an optimizer step: gradient norm is {norm.item()}")
        self.optimizer.zero_grad(set_to_none=True)
        out = {k: v / updates for k, v in sums.items()}
        out["optim/grad_norm"] = sum(norms) / len(norms) if norms else float("nan")
        out["optim/skipped"] = float(skipped)
        return out
