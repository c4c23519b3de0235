"""A native step's rollout records: one row of the step's rollout file per sample (docs/run-format.md,
"Rollouts"), from the step's data and its critic after the update."""

from __future__ import annotations

import math

import torch

from pacslab.audit import verdict_field
from pacslab.config import Config
from pacslab.engines.native.update import StepData


def finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def step_records(cfg: Config, step: int, d: StepData, post_logp, rhat, psi, weights) -> list[dict]:
    """The step's per-sample records (one row of the rollout file each); without ψ_post this step
    (logging.critic_every) its fields are null."""
    n = cfg.rollout.n
    columns = {"weight": weights.detach().cpu().tolist()}
    names = ("logratio", "psi", "p_correct", "grad_weight")
    if psi is None:
        columns.update({name: [None] * len(d.verdicts) for name in names})
    else:
        p_correct = torch.sigmoid(psi)  # [B]
        columns.update({name: t.detach().cpu().tolist() for name, t in zip(
            names, (rhat, psi, p_correct, d.labels - p_correct))})
    token_logratio = None if post_logp is None else (cfg.pacs.beta * (post_logp - d.old_logp)).cpu()  # [B, R]
    records = []
    for i, verdict in enumerate(d.verdicts):
        g = d.batch.prompt_index[i]
        example = d.examples[g]
        record = {
            "step": step, "group": g, "index": i - g * n, "prompt_id": example.id,
            "prompt": example.prompt, "response": d.batch.response_texts[i], "answer": example.answer,
            "reward": float(verdict.label),
            "verifier": {"parsed": verdict.parsed, "detail": verdict.detail, "error": verdict.error},
            **{name: None if values[i] is None else finite(values[i]) for name, values in columns.items()},
            "length": d.batch.lengths[i], "truncated": d.batch.truncated[i],
        }
        record.update({k: v for k, v in (("data_source", example.data_source), ("extra_info", example.extra_info)) if v is not None})
        if d.audit is not None:
            record["audit"] = verdict_field(d.audit[i])
        if cfg.logging.log_token_details:
            record["tokens"] = d.batch.response_tokens[i]
            if token_logratio is not None:
                record["token_logratio"] = [finite(x) for x in token_logratio[i, : d.batch.lengths[i]].tolist()]
        records.append(record)
    return records
