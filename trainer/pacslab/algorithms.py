"""The algorithm registry: what each training algorithm is, in one place.

Each entry names its pure loss (losses.py), how the loss aggregates (a mean over rows or over
real tokens: how micro-batches are weighted), what it needs (a frozen reference model, a
per-row proxy that couples the rows of a group), its logged loss metric and its config
requirements and the engines that run it. The training loop, the config checks, the step line and run.json read the entry;
none of them branches on the algorithm's name. A new loss is one `register(...)` here on a pure
function in losses.py (as verl registers its policy losses).

This module imports no torch at import time (the config schema takes its names from here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal

if TYPE_CHECKING:
    from torch import Tensor

    from pacslab.config.schema import Config


@dataclass(frozen=True)
class LossInput:
    """One micro-batch's tensors: `[b, r]` per token, `[b]` per row."""

    logp: "Tensor"
    old_logp: "Tensor"
    mask: "Tensor"
    labels: "Tensor"
    group_ids: "Tensor"
    ref_logp: "Tensor | None"
    advantages: "Tensor | None"  # over the whole mini-batch when the micro-batch splits groups
    rollout_n: int


@dataclass(frozen=True)
class Requirement:
    """A config rule of an algorithm broken: the key, what is wrong, how to fix it."""

    key: str
    problem: str
    fix: str


@dataclass(frozen=True)
class Coupling:
    """A loss whose rows interact only through a per-row proxy p (PACS: r̂), so that any split of a
    mini-batch gets the exact gradient from c = ∂L/∂p over the whole mini-batch: Σ_j c_j · p_j."""

    proxy: Callable[["Config", "Tensor", "Tensor", "Tensor"], "Tensor"]  # (cfg, logp, old_logp, mask) → [b]
    gradient: Callable[["Config", "Tensor", "Tensor", "Tensor", int], tuple["Tensor", dict]]  # (cfg, p, labels, group_ids, n)
    zero_at_old: Callable[["Config"], bool]  # p ≡ 0 at θ = θ_old, so c needs no forward pass there


@dataclass(frozen=True)
class Algorithm:
    name: str
    summary: str
    loss_metric: str
    aggregation: Literal["rows", "tokens"]
    loss: Callable[["Config", LossInput], tuple["Tensor", dict]]
    needs_reference: Callable[["Config"], bool]
    requirements: Callable[["Config"], list[Requirement]]
    # per-row advantages from (labels, group_ids, n) over whole groups, for micro-batches that split
    # groups; an option of the loss is bound at registration (as grpo's norm_by_std), so that an engine
    # without a Config (a plain TRL script's PacsGRPOTrainer) computes them too
    advantages: Callable[["Tensor", "Tensor", int], "Tensor"] | None = None
    coupling: Coupling | None = None
    implicit_critic: bool = False  # ψ_post (the critic metrics) is this loss's own score
    engines: tuple[str, ...] = ("native",)  # the engines that run it (engines/__init__.py ENGINES)
    # engine: trl: `advantages` replace TRL's own group-normalised ones (False: TRL's stand, as they are
    # GRPO's; a coupling's loss is the engine's own, engines/trl/loss.py)
    trl_replaces_advantages: bool = False
    # engine: trl: the loss PacsGRPOTrainer takes instead of TRL's surrogate, on each micro-batch (its options
    # bound at registration, as `advantages`' are); a mean over rows, so that with TRL's equal micro-batches
    # the accumulated gradient is the mini-batch's, as the native engine takes it. None: TRL's own loss
    trl_loss: Callable[[LossInput], tuple["Tensor", dict]] | None = None


ALGORITHMS: dict[str, Algorithm] = {}

# The options of the PACS score (the `pacs:` section): losses.py computes each, the config schema
# offers them, and `pacslab score` computes ψ with the same estimators.
REWARD_METHODS = ("logratio", "mean_logp")
ADV_ESTIMATORS = ("rloo", "grpo", "naive")
WEIGHT_MODES = ("question", "only_positive", "only_negative", "none")


def register(algorithm: Algorithm) -> Algorithm:
    if algorithm.name in ALGORITHMS:
        raise ValueError(f"algorithm {algorithm.name!r} is registered twice")
    if (algorithm.advantages is None) == (algorithm.coupling is None):
        raise ValueError(f"algorithm {algorithm.name!r} needs exactly one of advantages and coupling")
    if algorithm.trl_replaces_advantages and (algorithm.advantages is None or "trl" not in algorithm.engines):
        raise ValueError(f"algorithm {algorithm.name!r}: trl_replaces_advantages needs advantages and engine trl")
    if algorithm.trl_loss is not None and ("trl" not in algorithm.engines or algorithm.aggregation != "rows"):
        raise ValueError(f"algorithm {algorithm.name!r}: trl_loss needs engine trl and aggregation rows")
    ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def get(name: str) -> Algorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"algorithm is {name!r}: use one of {', '.join(ALGORITHMS)}") from None


def _group_of(n_min: int, why: str) -> Callable[["Config"], list[Requirement]]:
    def requirements(cfg: "Config") -> list[Requirement]:
        n = cfg.rollout.n
        if n >= n_min:
            return []
        return [Requirement("rollout.n", f"algorithm {cfg.algorithm} {why}, which needs at least {n_min} responses "
                            f"per prompt (n = {n})", f"set rollout.n to {n_min} or more (8 is usual)")]

    return requirements


def _no_reference(_cfg: "Config") -> bool:
    return False


def _kl_reference(cfg: "Config") -> bool:
    return cfg.grpo.kl_coef > 0


# ---------------------------------------------------------------- PACS


def _pacs_options(cfg: "Config") -> dict:
    p = cfg.pacs
    return {"adv_estimator": p.adv_estimator, "norm_by_std": p.norm_by_std, "weight_mode": p.weight_mode}


def _pacs_loss(cfg: "Config", x: LossInput):
    from pacslab.losses import pacs_loss

    return pacs_loss(x.logp, x.old_logp, x.mask, x.labels, rollout_n=x.rollout_n, beta=cfg.pacs.beta,
                     reward_method=cfg.pacs.reward_method, group_ids=x.group_ids, **_pacs_options(cfg))


def _pacs_proxy(cfg: "Config", logp, old_logp, mask):
    from pacslab.losses import pacs_rhat

    return pacs_rhat(logp, old_logp, mask, beta=cfg.pacs.beta, reward_method=cfg.pacs.reward_method)


def _pacs_gradient(cfg: "Config", rhat, labels, group_ids, n: int):
    from pacslab.losses import pacs_rhat_gradient

    return pacs_rhat_gradient(rhat, labels, rollout_n=n, group_ids=group_ids, **_pacs_options(cfg))


def _pacs_requirements(cfg: "Config") -> list[Requirement]:
    n, estimator = cfg.rollout.n, cfg.pacs.adv_estimator
    if n >= 2 or estimator == "naive":
        return []
    return [Requirement("rollout.n", f"pacs.adv_estimator {estimator} compares responses within a group, which needs "
                        f"at least 2 (n = {n})", "set rollout.n to 2 or more, or pacs.adv_estimator to naive")]


register(Algorithm(
    name="pacs", summary="PACS: the verifier's label as a supervised target for the implicit critic ψ (no value network)",
    loss_metric="pacs/loss", aggregation="rows", loss=_pacs_loss, needs_reference=_no_reference,
    requirements=_pacs_requirements,
    coupling=Coupling(proxy=_pacs_proxy, gradient=_pacs_gradient,
                      zero_at_old=lambda cfg: cfg.pacs.reward_method == "logratio"),
    implicit_critic=True, engines=("native", "trl"),
))


# ---------------------------------------------------------------- GRPO


def _grpo_advantages(norm_by_std: bool):
    def advantages(labels, group_ids, n: int):
        from pacslab.losses import grpo_advantages

        return grpo_advantages(labels, rollout_n=n, group_ids=group_ids, norm_by_std=norm_by_std)

    return advantages


def _register_clipped(name: str, summary: str, *, aggregation: Literal["rows", "tokens"], norm_by_std: bool, why: str,
                      options: Callable[["Config"], dict], engines: tuple[str, ...] = ("native",)) -> Algorithm:
    """A PPO-clip loss of losses.py (`{name}_loss`) on group advantages, with the grpo section's options."""

    def loss(cfg: "Config", x: LossInput):
        from pacslab import losses

        return getattr(losses, f"{name}_loss")(x.logp, x.old_logp, x.mask, x.labels, rollout_n=x.rollout_n,
                                               group_ids=x.group_ids, advantages=x.advantages,
                                               clip_eps=cfg.grpo.clip_eps, ref_logp=x.ref_logp,
                                               kl_coef=cfg.grpo.kl_coef, **options(cfg))

    return register(Algorithm(name=name, summary=summary, loss_metric=f"{name}/loss", aggregation=aggregation, loss=loss,
                              needs_reference=_kl_reference, requirements=_group_of(2, why),
                              advantages=_grpo_advantages(norm_by_std), engines=engines))


_register_clipped("grpo", "GRPO baseline: PPO-clip on group-normalised rewards, token mean", aggregation="tokens",
                  norm_by_std=True, why="normalises rewards within a group", options=lambda _cfg: {}, engines=("native", "trl"))


# ---------------------------------------------------------------- RLOO


def _rloo_loss(x: LossInput):
    from pacslab.losses import rloo_loss

    return rloo_loss(x.logp, x.mask, x.labels, rollout_n=x.rollout_n, group_ids=x.group_ids, advantages=x.advantages)


def _rloo_advantages(labels, group_ids, n: int):
    from pacslab.losses import rloo_advantages

    return rloo_advantages(labels, rollout_n=n, group_ids=group_ids)


register(Algorithm(name="rloo", summary="RLOO baseline: REINFORCE with a leave-one-out baseline", loss_metric="rloo/loss",
                   aggregation="rows", loss=lambda _cfg, x: _rloo_loss(x), needs_reference=_no_reference,
                   requirements=_group_of(2, "needs a leave-one-out baseline"), advantages=_rloo_advantages,
                   engines=("native", "trl"), trl_replaces_advantages=True, trl_loss=_rloo_loss))


# ---------------------------------------------------------------- Dr. GRPO

_register_clipped("dr_grpo", "Dr. GRPO baseline: GRPO without the std division, token sums over a constant length",
                  aggregation="rows", norm_by_std=False, why="centres rewards within a group",
                  options=lambda cfg: {"max_new_tokens": cfg.rollout.max_new_tokens})


NAMES: tuple[str, ...] = tuple(ALGORITHMS)


def run_on(engine: str) -> tuple[str, ...]:
    """The algorithms `engine` runs, in registry order."""
    return tuple(name for name, algorithm in ALGORITHMS.items() if engine in algorithm.engines)
