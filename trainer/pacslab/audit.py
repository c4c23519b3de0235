"""`task.audit_verifier`: a second checker beside the reward's verifier, for every engine.

The audit checker labels the same samples as the primary verifier, in worker processes with the
same time limit and worker count, and never changes the reward. Per step it gives

- `verifier/disagree_frac`: the share of samples where the two labels differ,
- `verifier/primary_only_frac`: the primary says 1, the audit 0 (a possible false positive),
- `verifier/audit_only_frac`: the audit says 1, the primary 0 (a possible false negative),
- `verifier/audit_error_frac`: the share where the audit checker raised or timed out;

the three fractions are over the samples the audit checker labelled without an error (null when
none was). A sample's record keeps the audit verdict under `audit`. The native engine calls
`Audit.check` on each step's verdicts; `PacsLabCallback` (engine: trl and plain TRL scripts)
calls `Audit.check_records` on the records it writes: one code path, three entry points.
"""

from __future__ import annotations

from pacslab.reverify import recorded_label, sample_item
from pacslab.verifiers import Verdict, VerifierRunner

METRICS = ("verifier/disagree_frac", "verifier/primary_only_frac", "verifier/audit_only_frac", "verifier/audit_error_frac")


def verdict_field(v: Verdict) -> dict:
    """A verdict as a rollout record holds it."""
    return {"label": v.label, "parsed": v.parsed, "detail": v.detail, "error": v.error}


def agreement(primary: list[int], audit: list[Verdict]) -> dict[str, float | None]:
    """The four METRICS of primary labels against audit verdicts (same samples, same order).

    >>> agreement([1, 1, 0, 0], [Verdict(1, None, ""), Verdict(0, None, ""), Verdict(1, None, ""), Verdict(0, None, "", "E: x")])
    {'verifier/disagree_frac': 0.6666666666666666, 'verifier/primary_only_frac': 0.3333333333333333, 'verifier/audit_only_frac': 0.3333333333333333, 'verifier/audit_error_frac': 0.25}
    """
    pairs = [(p, a.label) for p, a in zip(primary, audit) if a.error is None]
    n = len(pairs)
    share = (lambda count: count / n) if n else (lambda count: None)
    return {"verifier/disagree_frac": share(sum(p != a for p, a in pairs)),
            "verifier/primary_only_frac": share(sum(p == 1 and a == 0 for p, a in pairs)),
            "verifier/audit_only_frac": share(sum(p == 0 and a == 1 for p, a in pairs)),
            "verifier/audit_error_frac": (len(audit) - n) / len(audit) if audit else None}


class Audit:
    """The audit checker `spec` in its own worker processes (`VerifierRunner`'s options)."""

    def __init__(self, spec: str, *, base_dir: str | None, timeout_s: float, workers: int = 1, interrupted=None):
        try:
            self.runner = VerifierRunner(spec, base_dir=base_dir, timeout_s=timeout_s, workers=workers, interrupted=interrupted)
        except ValueError as exc:
            raise ValueError(str(exc).replace("task.verifier", "task.audit_verifier", 1)) from None
        self.spec = spec

    @classmethod
    def from_config(cls, cfg, base_dir, interrupted=None) -> "Audit | None":
        spec = getattr(cfg.task, "audit_verifier", None)
        if not spec:
            return None
        return cls(spec, base_dir=str(base_dir), timeout_s=cfg.task.verifier_timeout_s, workers=cfg.task.verifier_workers,
                   interrupted=interrupted)

    def check(self, items: list[tuple], primary: list[int]) -> tuple[list[Verdict], dict[str, float | None]]:
        """The audit verdicts of `items` (VerifierRunner items) and the metrics against `primary` labels."""
        verdicts = self.runner.verify(items)
        return verdicts, agreement(primary, verdicts)

    def check_records(self, records: list[dict]) -> dict[str, float | None]:
        """Adds `audit` to each record that carries prompt, response, answer and reward; the metrics of those."""
        usable = [(r, sample_item(r), recorded_label(r)) for r in records]
        usable = [(r, item, label) for r, item, label in usable if item is not None and label is not None]
        if not usable:
            return {}
        verdicts, values = self.check([item for _, item, _ in usable], [label for _, _, label in usable])
        for (record, _, _), v in zip(usable, verdicts):
            record["audit"] = verdict_field(v)
        return values

    def close(self) -> None:
        self.runner.close()
