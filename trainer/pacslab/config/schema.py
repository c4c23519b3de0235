"""The experiment config's pydantic models: one documented field for every option of `*.pacs.yaml`."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

BUILTIN_PREFIX = "builtin:"

# YAML 1.2 (and the editor's parser) reads `1e-3` as a number; PyYAML's YAML 1.1 reads it as text
_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def _yaml12_number(value: object) -> object:
    return float(value) if isinstance(value, str) and _YAML12_FLOAT.fullmatch(value.strip()) else value


# Numbers are strict: `true` is not 1, `"8"` and `8.0` are not 8; a float key takes an integer.
Int = Annotated[int, Strict()]
Float = Annotated[float, BeforeValidator(_yaml12_number), Strict()]
# Text is bounded: a template or a path of megabytes is a mistake, and a template is copied into every prompt.
MAX_TEXT = 65_536
MAX_PATH = 4_096
MAX_NAME = 256


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ModelConfig(_Section):
    path: str = Field(
        "builtin:arith-tiny",
        min_length=1,
        max_length=MAX_PATH,
        description="The policy to train: a local Hugging Face model directory (relative to the "
        "config file) or `builtin:NAME` for a model shipped in pacslab/assets/. Never downloaded.",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Parameter dtype: `auto` is bfloat16 on CUDA and float32 on CPU."
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass to save memory (slower)."
    )


class ArithConfig(_Section):
    digits: Int = Field(3, ge=1, le=9, description="Digits per operand of the generated problems.")
    ops: list[Literal["+", "-", "*"]] = Field(
        ["+"], min_length=1, description="Operators to draw problems from."
    )
    train_size: Int = Field(20000, ge=1, description="Number of generated training problems.")
    eval_size: Int = Field(200, ge=1, description="Number of generated held-out problems.")
    seed: Int = Field(1234, description="Seed of the problem generator (independent of the run seed).")


class TaskConfig(_Section):
    type: Literal["arith", "jsonl", "parquet"] = Field(
        "arith",
        description="Where prompts come from: the built-in `arith` generator, or a local JSONL or "
        "Parquet file with one prompt and answer per row.",
    )
    arith: ArithConfig = Field(
        ArithConfig(), description="Options of the built-in arithmetic task (type: arith)."
    )
    train_file: str | None = Field(
        None, max_length=MAX_PATH, description="Training rows (type jsonl or parquet), relative to the config file."
    )
    eval_file: str | None = Field(
        None, max_length=MAX_PATH, description="Held-out rows (type jsonl or parquet, required there), relative to the config file."
    )
    prompt_field: str = Field("prompt", min_length=1, max_length=MAX_NAME, description="Column holding the prompt text.")
    answer_field: str = Field("answer", min_length=1, max_length=MAX_NAME, description="Column holding the reference answer.")
    id_field: str | None = Field(None, max_length=MAX_NAME, description="Column holding a row id; null = the row number.")
    template: str = Field(
        "{prompt}", max_length=MAX_TEXT, description="str.format template applied to each prompt; must contain `{prompt}`."
    )
    verifier: str = Field(
        "exact",
        max_length=MAX_PATH,
        pattern=r"^(exact|math|python:([A-Za-z_][\w.]*|[^:]+\.py):[A-Za-z_]\w*)$",
        description="How a response is checked: `exact` (normalised string or number), `math` "
        "(math-verify equivalence of the boxed or last answer) or `python:MODULE:FUNCTION` "
        "(your own: MODULE importable from the config's folder, or a .py file relative to it, "
        "e.g. `python:./my_verifier.py:check`).",
    )
    verifier_timeout_s: Float = Field(
        10.0,
        gt=0,
        le=86400,
        description="Seconds the verifier may take on one sample; a slower sample gets label 0 with "
        "the error `timed out` (`exact` runs in the trainer and is never cut off).",
    )
    verifier_workers: Int = Field(
        1,
        ge=1,
        le=256,
        description="Processes that run the verifier (`math` and `python:` verifiers run outside the "
        "trainer); more run a step's samples in parallel, with the same results in the same order.",
    )


class RolloutConfig(_Section):
    prompts_per_step: Int = Field(16, ge=1, description="Prompts (groups) sampled per training step.")
    n: Int = Field(8, ge=1, description="Responses sampled per prompt (the group size).")
    max_new_tokens: Int = Field(8, ge=1, description="Longest response; longer ones are cut and flagged truncated.")
    temperature: Float = Field(1.0, gt=0, description="Sampling temperature of the rollouts.")
    top_p: Float = Field(1.0, gt=0, le=1, description="Nucleus sampling threshold of the rollouts (1 = off).")


class PacsConfig(_Section):
    beta: Float = Field(1.0, gt=0, description="Scale β of the reward proxy r̂ (and of ψ).")
    reward_method: Literal["logratio", "mean_logp"] = Field(
        "logratio",
        description="r̂ = β·Σ(logp − old_logp) over the response (`logratio`) or β·mean(logp) (`mean_logp`).",
    )
    adv_estimator: Literal["rloo", "grpo", "naive"] = Field(
        "rloo",
        description="ψ from r̂ within a group: leave-one-out baseline (`rloo`), group-normalised "
        "(`grpo`) or r̂ itself (`naive`).",
    )
    norm_by_std: bool = Field(True, description="With adv_estimator grpo, divide by the group's std of r̂.")
    weight_mode: Literal["question", "only_positive", "only_negative", "none"] = Field(
        "question",
        description="Per-sample weights: balance the labels within each mixed group (`question`), "
        "keep only correct (`only_positive`) or only wrong (`only_negative`) samples, or none.",
    )


class GrpoConfig(_Section):
    clip_eps: Float = Field(0.2, gt=0, lt=1, description="PPO clip range ε of the GRPO surrogate.")
    kl_coef: Float = Field(
        0.0, ge=0, description="Coefficient of the k3 KL to a frozen reference; > 0 loads the reference model."
    )


class OptimConfig(_Section):
    lr: Float = Field(1.0e-3, gt=0, description="Peak learning rate of AdamW.")
    weight_decay: Float = Field(0.0, ge=0, description="AdamW decoupled weight decay.")
    betas: tuple[Float, Float] = Field((0.9, 0.999), description="AdamW (β1, β2).")
    schedule: Literal["constant", "warmup_cosine"] = Field(
        "constant",
        description="Learning-rate schedule over the training steps: constant, or linear warm-up "
        "then cosine decay to lr·min_lr_ratio.",
    )
    warmup_steps: Int = Field(0, ge=0, description="Linear warm-up steps (schedule warmup_cosine).")
    min_lr_ratio: Float = Field(0.1, ge=0, le=1, description="Final lr / peak lr (schedule warmup_cosine).")
    max_grad_norm: Float = Field(1.0, ge=0, description="Clip the gradient norm to this value; 0 = no clipping.")
    mini_batch_prompts: Int = Field(
        16, ge=1, description="Prompts (whole groups) per optimizer step; must divide rollout.prompts_per_step."
    )
    micro_batch_prompts: Int = Field(
        16,
        ge=1,
        description="Prompts per forward/backward pass (gradients accumulate); must divide "
        "optim.mini_batch_prompts.",
    )
    epochs: Int = Field(1, ge=1, description="Passes over each step's rollouts.")
    share_prompts: bool = Field(
        True,
        description="Run each prompt once per group in the log-prob passes and let its n responses read "
        "it from a repeated KV cache (the same log-probs and gradients, fewer positions); false runs "
        "prompt + response for every row. Off by itself under gradient checkpointing.",
    )


class EvalConfig(_Section):
    size: Int | None = Field(200, ge=1, description="Held-out prompts evaluated (null = all of them).")
    samples: Int = Field(8, ge=1, description="Samples per prompt (m) for pass@k.")
    k: list[Int] = Field(
        [1, 8], min_length=1, description="The k of each reported pass@k (each ≤ samples)."
    )
    temperature: Float = Field(1.0, gt=0, description="Sampling temperature of the pass@k samples.")
    batch_prompts: Int = Field(64, ge=1, description="Prompts per generation batch during evaluation.")


class LoggingConfig(_Section):
    log_token_details: bool = Field(
        True, description="Write per-token strings and log-ratios into the rollout records (token heat-map)."
    )
    rollouts_every: Int = Field(
        1, ge=0, description="Write the per-sample rollout records every this many steps (0 = never)."
    )


class Config(_Section):
    name: str | None = Field(
        None,
        max_length=MAX_NAME,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Run name, part of the run id; default: the config file name without `.pacs.yaml`.",
    )
    algorithm: Literal["pacs", "grpo", "rloo"] = Field(
        "pacs", description="The loss: PACS (implicit critic), or the GRPO / RLOO baselines."
    )
    seed: Int = Field(0, description="Seed of every random choice of the run (prompt order, sampling, init).")
    device: str = Field(
        "auto", max_length=MAX_NAME, pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto (CUDA when present), cpu, cuda or cuda:N."
    )
    total_steps: Int = Field(100, ge=1, description="Training steps (one rollout batch and its updates each).")
    eval_every: Int = Field(
        25, ge=0, description="Evaluate every this many steps; 0 = only before the first step and at the end."
    )
    checkpoint_every: Int = Field(50, ge=0, description="Checkpoint every this many steps; 0 = only at the end.")
    model: ModelConfig = Field(ModelConfig(), description="The policy model.")
    task: TaskConfig = Field(TaskConfig(), description="Prompts, answers and the verifier.")
    rollout: RolloutConfig = Field(RolloutConfig(), description="Sampling of the training responses.")
    pacs: PacsConfig = Field(
        PacsConfig(),
        description="PACS loss options; also used for the critic metrics (ψ_post) of every algorithm.",
    )
    grpo: GrpoConfig = Field(GrpoConfig(), description="GRPO baseline options.")
    optim: OptimConfig = Field(OptimConfig(), description="Optimizer, schedule and batching.")
    eval: EvalConfig = Field(EvalConfig(), description="Held-out evaluation.")
    logging: LoggingConfig = Field(LoggingConfig(), description="What the run directory records.")
