"""Health rules: pure objects over each step's metrics (and each evaluation's values) that say when
a run is going wrong. `AlertMonitor` runs the rules of the config's `alerts:` section with
hysteresis: a rule fires once when its condition starts to hold and is re-armed only once the
condition has stopped holding. The engines act on what fires through `pacslab.health.run`.

A nonfinite value is passed as float('nan') or inf (not None): None means "not measured this step"
and leaves a rule's count as it was.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass

from pacslab.config.alerts import AlertsConfig

ACTIONS = ("warn", "pause", "stop")  # in increasing strength


@dataclass(frozen=True)
class Alert:
    rule: str
    step: int
    value: float | None
    threshold: float | None
    action: str
    message: str

    def event(self) -> dict:
        """The fields of the `alert` event (docs/run-format.md)."""
        return {"rule": self.rule, "value": _json_number(self.value), "threshold": self.threshold,
                "action": self.action, "message": self.message}


@dataclass(frozen=True)
class Check:
    """A rule's verdict on one step: `holds` None = no verdict (its metric was not measured)."""

    holds: bool | None
    value: float | None = None
    threshold: float | None = None
    message: str = ""


def _get(values: dict, key: str) -> float | None:
    v = values.get(key)
    return None if v is None or isinstance(v, bool) else float(v)


def _json_number(x: float | None) -> float | str | None:
    return x if x is None or math.isfinite(x) else str(x)


class Consecutive:
    """A condition that must hold for `steps` consecutive measured steps."""

    def __init__(self, steps: int):
        self.steps, self.run = steps, 0

    def update(self, holds: bool | None) -> bool | None:
        if holds is None:
            return None
        self.run = self.run + 1 if holds else 0
        return self.run >= self.steps


class Nonfinite:
    name = "nonfinite"

    def __init__(self, rule, loss_metric: str):
        self.keys = (loss_metric, "optim/grad_norm")

    def check(self, step: int, values: dict) -> Check:
        bad = [k for k in self.keys if (v := _get(values, k)) is not None and not math.isfinite(v)]
        skipped = _get(values, "optim/skipped") or 0
        if not bad and not skipped:
            return Check(False)
        what = ", ".join(f"{k} is {values[k]}" for k in bad) or f"{int(skipped)} optimizer step(s) had a nonfinite gradient"
        return Check(True, _get(values, bad[0]) if bad else skipped, None,
                     f"{what}: the optimizer step was skipped, the weights are unchanged")


class NoSignal:
    name = "no_signal"

    def __init__(self, rule, _loss_metric: str):
        self.rule, self.run = rule, Consecutive(rule.steps)

    def check(self, step: int, values: dict) -> Check:
        right, wrong = _get(values, "reward/all_correct_frac"), _get(values, "reward/all_wrong_frac")
        if right is None or wrong is None:
            return Check(self.run.update(None))
        agree = right + wrong
        holds = self.run.update(agree > self.rule.threshold)
        return Check(holds, agree, self.rule.threshold,
                     f"{agree:.0%} of the groups agree ({right:.0%} all correct, {wrong:.0%} all wrong) for "
                     f"{self.rule.steps} steps: they give no learning signal (raise the temperature, n, or pick harder/easier prompts)")


class EntropyCollapse:
    name = "entropy_collapse"

    def __init__(self, rule, _loss_metric: str):
        self.rule, self.early, self.run = rule, [], Consecutive(rule.steps)

    def check(self, step: int, values: dict) -> Check:
        entropy = _get(values, "policy/entropy")
        if entropy is None or not math.isfinite(entropy):
            return Check(self.run.update(None))
        if len(self.early) < self.rule.early_steps:
            self.early.append(entropy)
            return Check(self.run.update(False))
        floor = self.rule.fraction * statistics.median(self.early)
        return Check(self.run.update(entropy < floor), entropy, floor,
                     f"policy entropy {entropy:.4g} is below {self.rule.fraction:g} × its median over the first "
                     f"{self.rule.early_steps} steps ({floor:.4g}): the policy has stopped exploring")


class Truncation:
    name = "truncation"

    def __init__(self, rule, _loss_metric: str):
        self.rule, self.run = rule, Consecutive(rule.steps)

    def check(self, step: int, values: dict) -> Check:
        frac = _get(values, "response/truncated_frac")
        holds = self.run.update(None if frac is None else frac > self.rule.threshold)
        return Check(holds, frac, self.rule.threshold,
                     f"{(frac or 0):.0%} of the responses hit rollout.max_new_tokens: the budget cuts answers off (raise it)")


class LengthRunaway:
    name = "length_runaway"

    def __init__(self, rule, _loss_metric: str):
        self.rule = rule
        self.lengths: deque[float] = deque(maxlen=2 * rule.window)

    def check(self, step: int, values: dict) -> Check:
        length = _get(values, "response/length_mean")
        if length is None:
            return Check(None)
        self.lengths.append(length)
        w = self.rule.window
        if len(self.lengths) < 2 * w:
            return Check(False)
        before, now = sum(list(self.lengths)[:w]) / w, sum(list(self.lengths)[w:]) / w
        ratio = now / before if before > 0 else math.inf
        holds = ratio >= self.rule.factor or ratio <= 1 / self.rule.factor
        verb = "grew" if ratio >= 1 else "shrank"
        return Check(holds, ratio, self.rule.factor,
                     f"the mean response length {verb} from {before:.1f} to {now:.1f} tokens over {2 * w} steps (×{ratio:.2f})")


class VerifierErrors:
    name = "verifier_errors"

    def __init__(self, rule, _loss_metric: str):
        self.rule = rule

    def check(self, step: int, values: dict) -> Check:
        frac = _get(values, "verifier/error_frac")
        if frac is None:
            return Check(None)
        return Check(frac > self.rule.threshold, frac, self.rule.threshold,
                     f"the verifier raised or timed out on {frac:.0%} of the samples (they count as wrong): fix task.verifier")


class GradSpike:
    name = "grad_spike"

    def __init__(self, rule, _loss_metric: str):
        self.rule = rule
        self.norms: deque[float] = deque(maxlen=rule.window)

    def check(self, step: int, values: dict) -> Check:
        norm = _get(values, "optim/grad_norm")
        if norm is None or not math.isfinite(norm):
            return Check(None)
        median = statistics.median(self.norms) if len(self.norms) >= 3 else None
        self.norms.append(norm)
        if median is None or median <= 0:
            return Check(False)
        limit = self.rule.factor * median
        return Check(norm > limit, norm, limit,
                     f"gradient norm {norm:.4g} is over {self.rule.factor:g} × its running median ({median:.4g}): "
                     "lower optim.lr or tighten optim.max_grad_norm; if the run's settings just changed (a resume "
                     "with another rollout.temperature or data), look at what changed first")


class CriticBlind:
    name = "critic_blind"

    def __init__(self, rule, _loss_metric: str):
        self.rule, self.run = rule, Consecutive(rule.steps)

    def check(self, step: int, values: dict) -> Check:
        auc = _get(values, "critic/auc")
        holds = self.run.update(None if auc is None else auc <= self.rule.auc)
        return Check(holds, auc, self.rule.auc,
                     f"critic AUC at or below {self.rule.auc:g} for {self.rule.steps} steps: the implicit critic "
                     "cannot tell correct from wrong samples, so its weights are noise")


class RewardVsHeldout:
    """Evaluated at each evaluation: the training reward since the previous evaluation against held-out accuracy."""

    name = "reward_vs_heldout"

    def __init__(self, rule, _loss_metric: str):
        self.rule = rule
        self.rewards: list[float] = []  # training reward/mean since the last evaluation
        self.points: deque[tuple[float, float]] = deque(maxlen=rule.evals)  # (mean training reward, held-out)

    def check(self, step: int, values: dict) -> Check:
        reward = _get(values, "reward/mean")
        if reward is not None:
            self.rewards.append(reward)
        return Check(None)

    def check_eval(self, step: int, values: dict) -> Check:
        key = self.rule.metric or next((k for k in values if k.startswith("eval/") and k.endswith("accuracy")), None)
        heldout = None if key is None else _get(values, key)
        if heldout is None or not self.rewards:
            return Check(None)
        self.points.append((sum(self.rewards) / len(self.rewards), heldout))
        self.rewards = []
        if len(self.points) < self.rule.evals:
            return Check(False)
        (r0, h0), (r1, h1) = self.points[0], self.points[-1]
        d = self.rule.min_change
        return Check(r1 - r0 >= d and h0 - h1 >= d, h1 - h0, -d,
                     f"over the last {self.rule.evals} evaluations the training reward rose {r0:.3f} → {r1:.3f} while "
                     f"{key} fell {h0:.3f} → {h1:.3f}: reward hacking or overfitting")


RULES = {r.name: r for r in (Nonfinite, NoSignal, EntropyCollapse, Truncation, LengthRunaway, VerifierErrors, GradSpike,
                             RewardVsHeldout, CriticBlind)}


class AlertMonitor:
    """The enabled rules of `config`, each with its hysteresis state."""

    def __init__(self, config: AlertsConfig, *, loss_metric: str):
        self.config = config
        self.rules = {name: cls(getattr(config, name), loss_metric) for name, cls in RULES.items()
                      if getattr(config, name).enabled}
        self.active: set[str] = set()

    def observe(self, step: int, values: dict) -> list[Alert]:
        """The alerts that fire at training step `step` with its metric `values`."""
        return self._fire(step, {name: rule.check(step, values) for name, rule in self.rules.items()})

    def observe_eval(self, step: int, values: dict) -> list[Alert]:
        """The alerts that fire at the evaluation after `step` with its `values`."""
        return self._fire(step, {name: rule.check_eval(step, values) for name, rule in self.rules.items()
                                 if hasattr(rule, "check_eval")})

    def _fire(self, step: int, checks: dict[str, Check]) -> list[Alert]:
        fired = []
        for name, check in checks.items():
            if check.holds is None:
                continue
            if not check.holds:
                self.active.discard(name)
            elif name not in self.active:
                self.active.add(name)
                fired.append(Alert(name, step, check.value, check.threshold, getattr(self.config, name).action,
                                   check.message))
        return fired


def strongest(alerts: list[Alert]) -> str | None:
    """The strongest action among `alerts` (stop > pause > warn), or None."""
    return max((a.action for a in alerts), key=ACTIONS.index, default=None)
