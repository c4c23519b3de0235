"""The run's diagnostics on the writing side, shared by every engine (the native loop, `engine: trl`
and a plain TRL script's `PacsLabCallback`): after each step the prompt ledger and the health
alerts, after each evaluation the held-out examples one by one and the held-out alert.

An engine hands over what it measured and applies the returned action: `pause` (pause at the end
of this step, its rollouts recorded), `stop` (checkpoint, then stop), or None.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from pacslab.run import files as runio
from pacslab.config.alerts import AlertsConfig
from pacslab.health.alerts import Alert, AlertMonitor, strongest
from pacslab.health.ledger import Ledger

HELDOUT_DIR = "heldout"


def group_shares(groups: list[tuple[int, int]]) -> dict[str, float]:
    """The shares of groups (correct, n) all correct, all wrong and mixed: `reward/all_correct_frac`,
    `reward/all_wrong_frac`, `reward/mixed_group_frac`."""
    if not groups:
        return {}
    total = len(groups)
    right = sum(1 for c, n in groups if c == n)
    wrong = sum(1 for c, n in groups if c == 0)
    return {"reward/all_correct_frac": right / total, "reward/all_wrong_frac": wrong / total,
            "reward/mixed_group_frac": (total - right - wrong) / total}


def step_shares(prompts: list[tuple], dropped: list[tuple] = ()) -> dict[str, float]:
    """`group_shares` of every group a step sampled, (id, data source, correct, n) each: its batch's
    `prompts` and the groups rollout.dynamic_sampling `dropped`."""
    return group_shares([(c, n) for *_, c, n in [*prompts, *dropped]])


class RunHealth:
    """Writes the ledger and the `alert` and `heldout` events of one run (the process that writes
    the run folder). `after_step` is the step a resumed run continues from: the alert rules are
    replayed over the metrics recorded up to it (without emitting again) and the ledger is cut there."""

    def __init__(self, run_dir: Path, config: AlertsConfig, events: runio.EventLog, *, loss_metric: str,
                 log: Callable[[str], None] = print, after_step: int = 0):
        self.run_dir, self.events, self.log = Path(run_dir), events, log
        self.monitor = AlertMonitor(config, loss_metric=loss_metric)
        if after_step:
            self._replay(after_step)
        self.ledger = Ledger(self.run_dir, after_step=after_step)

    def _replay(self, after_step: int) -> None:
        recorded, _ = runio.read_jsonl(self.run_dir / runio.EVENTS)
        for e in recorded:
            step, values = e.get("step"), e.get("values")
            if not isinstance(step, int) or not isinstance(values, dict) or step > after_step:
                continue
            if e.get("type") == "metrics" and step > 0:
                self.monitor.observe(step, values)
            elif e.get("type") == "eval":
                self.monitor.observe_eval(step, values)

    def step(self, step: int, values: dict, prompts: list[tuple[str, str | None, int, int]],
             dropped: list[tuple[str, str | None, int, int]] = ()) -> str | None:
        """Records `step`'s prompts (id, data source, correct, n), those of its batch and those
        dynamic sampling `dropped`, in the ledger and evaluates the alert rules on its metric `values`
        (a nonfinite value as nan/inf; the group shares in them are `step_shares`'); the action to take."""
        self.ledger.write(step, prompts, dropped)
        return self._emit(self.monitor.observe(step, values))

    def evaluation(self, step: int, values: dict) -> str | None:
        """The alert rules of an evaluation (reward_vs_heldout) after `step`; the action to take."""
        return self._emit(self.monitor.observe_eval(step, values))

    def heldout(self, step: int, rows: list[dict]) -> None:
        """Records each held-out example's result of the evaluation after `step` in
        heldout/step-N.jsonl and a `heldout` event naming it."""
        if not rows:
            return
        runio.run_subdir(self.run_dir, HELDOUT_DIR)
        rel = f"{HELDOUT_DIR}/{runio.step_name(step)}.jsonl"
        runio.write_atomic(self.run_dir / rel, "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in rows), durable=False)
        self.events.emit("heldout", step=step, file=rel, count=len(rows))

    def _emit(self, alerts: list[Alert]) -> str | None:
        for alert in alerts:
            self.events.emit("alert", step=alert.step, **alert.event())
            self.log(f"alert {alert.rule} at step {alert.step} ({alert.action}): {alert.message}")
        return strongest([a for a in alerts if a.action != "warn"])

    def close(self) -> None:
        self.ledger.close()
