"""The `alerts:` section: the health rules the trainer evaluates after every step (docs/diagnostics.md).

Every rule is on by default with action `warn` (`nonfinite`: `pause`); `enabled: false` turns one
off. A rule fires once when its condition starts to hold and again only after it has stopped
holding (hysteresis), so a long episode gives one `alert` event, not one per step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pacslab.config.base import Float, Int, Section

Action = Literal["warn", "pause", "stop"]

_ACTION = ("What a firing does: `warn` records the alert, `pause` pauses the run at the end of the step "
           "(that step's rollouts are recorded even when logging.rollouts_every would skip them; Resume "
           "continues), `stop` checkpoints and stops.")


class _Rule(Section):
    enabled: bool = Field(True, description="Whether the rule is evaluated; false turns it off.")
    action: Action = Field("warn", description=_ACTION)


class NonfiniteAlert(_Rule):
    """A NaN or infinite loss or gradient norm: the optimizer step is skipped (the weights stay
    finite) and the run pauses by default, since what produced it usually comes back."""

    action: Action = Field("pause", description=_ACTION)


class NoSignalAlert(_Rule):
    """Groups whose samples all agree (all correct or all wrong) have zero advantage: GRPO, RLOO and
    PACS learn nothing from them."""

    threshold: Float = Field(0.9, gt=0, le=1, description="Share of a step's groups whose labels all agree above which the step has no signal.")
    steps: Int = Field(5, ge=1, description="Consecutive steps without signal before the rule fires.")


class EntropyCollapseAlert(_Rule):
    """The policy has stopped exploring: sampling returns the same answer and groups stop disagreeing."""

    fraction: Float = Field(0.1, gt=0, lt=1, description="Fires when policy/entropy falls below this fraction of its early-steps median.")
    early_steps: Int = Field(10, ge=1, description="The first steps whose median entropy is the reference.")
    steps: Int = Field(3, ge=1, description="Consecutive steps below the fraction before the rule fires.")


class TruncationAlert(_Rule):
    """The response budget cuts answers off: a cut answer is wrong whatever the policy knew."""

    threshold: Float = Field(0.5, gt=0, le=1, description="Fires when response/truncated_frac is above this share.")
    steps: Int = Field(3, ge=1, description="Consecutive steps above the share before the rule fires.")


class LengthRunawayAlert(_Rule):
    """Responses growing (or shrinking) fast often means the policy found a length exploit of the reward."""

    factor: Float = Field(2.0, gt=1, description="Fires when the mean response length of the last `window` steps is this many times (or 1/this) that of the `window` steps before.")
    window: Int = Field(10, ge=1, description="Steps in each of the two windows compared.")


class VerifierErrorsAlert(_Rule):
    """Samples whose verifier raised or timed out count as wrong: the reward is measuring the verifier."""

    threshold: Float = Field(0.2, ge=0, lt=1, description="Fires when the share of a step's samples whose verifier raised or timed out is above this.")


class GradSpikeAlert(_Rule):
    """A gradient far above its usual size precedes most blow-ups (too high a learning rate, a bad batch)."""

    factor: Float = Field(10.0, gt=1, description="Fires when optim/grad_norm is above this many times its running median.")
    window: Int = Field(20, ge=3, description="Steps of the running median (the rule waits for 3 of them).")


class RewardVsHeldoutAlert(_Rule):
    """Training reward rising while held-out accuracy falls: reward hacking or overfitting."""

    evals: Int = Field(3, ge=2, description="The last evaluations compared (the first against the last).")
    min_change: Float = Field(0.05, ge=0, description="The least rise of the training reward and fall of held-out accuracy that counts.")
    metric: str | None = Field(None, min_length=1, description="The held-out value compared, e.g. eval/accuracy; null = the first `.../accuracy` of each evaluation.")


class CriticBlindAlert(_Rule):
    """PACS: the implicit critic ranks correct and wrong samples no better than chance, so its weights are noise."""

    auc: Float = Field(0.5, ge=0, le=1, description="Fires when critic/auc is at or below this.")
    steps: Int = Field(10, ge=1, description="Consecutive steps (with an AUC) at or below it before the rule fires.")


class AlertsConfig(Section):
    nonfinite: NonfiniteAlert = Field(NonfiniteAlert(), description=NonfiniteAlert.__doc__)
    no_signal: NoSignalAlert = Field(NoSignalAlert(), description=NoSignalAlert.__doc__)
    entropy_collapse: EntropyCollapseAlert = Field(EntropyCollapseAlert(), description=EntropyCollapseAlert.__doc__)
    truncation: TruncationAlert = Field(TruncationAlert(), description=TruncationAlert.__doc__)
    length_runaway: LengthRunawayAlert = Field(LengthRunawayAlert(), description=LengthRunawayAlert.__doc__)
    verifier_errors: VerifierErrorsAlert = Field(VerifierErrorsAlert(), description=VerifierErrorsAlert.__doc__)
    grad_spike: GradSpikeAlert = Field(GradSpikeAlert(), description=GradSpikeAlert.__doc__)
    reward_vs_heldout: RewardVsHeldoutAlert = Field(RewardVsHeldoutAlert(), description=RewardVsHeldoutAlert.__doc__)
    critic_blind: CriticBlindAlert = Field(CriticBlindAlert(), description=CriticBlindAlert.__doc__)
