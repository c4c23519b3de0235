"""The ledger's prompts and the group shares of a step from its sample records, for the writers
that have records rather than labels (`PacsLabCallback` under TRL, the TRL and verl importers),
and the skip of an optimizer step whose gradient is not finite (PacsLabCallback)."""

from __future__ import annotations

import torch

from pacslab.health.run import step_shares


def correct(record: dict) -> bool:
    """A sample counts as correct when its reward is positive (a verifier's label is 0 or 1)."""
    return float(record.get("reward") or 0.0) > 0


def prompt_key(prompt_id, prompt: str) -> str:
    """A group's id in the ledger: its `prompt_id` (engine: trl's verifier logs it) or else its prompt
    text (a plain TRL script, an imported run)."""
    return str(prompt_id or prompt)


def step_prompts(records: list[dict]) -> list[tuple[str, str | None, int, int]]:
    """(id, data source, correct, n) of each group of the step's records, the id by `prompt_key`."""
    groups: dict[int, list[dict]] = {}
    for r in records:
        groups.setdefault(int(r["group"]), []).append(r)
    out = []
    for _g, rows in sorted(groups.items()):
        first = rows[0]
        source = first.get("data_source")
        out.append((prompt_key(first.get("prompt_id"), first["prompt"]), None if source is None else str(source),
                    sum(correct(r) for r in rows), len(rows)))
    return out


def step_values(records: list[dict], dropped: list[tuple] = ()) -> dict[str, float]:
    """The group shares of the step (its records' groups and those dynamic sampling `dropped`) and,
    when the records carry the verifier's verdicts, the share of samples whose verifier raised
    (`verifier/error_frac`)."""
    values = step_shares(step_prompts(records), dropped)
    verdicts = [r["verifier"] for r in records if isinstance(r.get("verifier"), dict)]
    if verdicts:
        values["verifier/error_frac"] = sum(1 for v in verdicts if v.get("error")) / len(verdicts)
    return values


def skip_nonfinite_step(model: torch.nn.Module) -> bool:
    """Before the optimizer step: when any gradient is NaN or infinite, drop every gradient so the
    optimizer leaves the weights as they are (AdamW skips parameters without a gradient); whether it did.
    Every rank sees the same reduced gradients, so every rank decides alike."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return False
    norms = torch._foreach_norm(grads)
    if bool(torch.isfinite(torch.stack([x.float() for x in norms])).all()):
        return False
    for p in model.parameters():
        p.grad = None
    return True
