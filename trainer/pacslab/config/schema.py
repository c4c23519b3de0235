"""The experiment config's pydantic models: one documented field for every option of `*.pacs.yaml`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pacslab.algorithms import ADV_ESTIMATORS, ALGORITHMS, NAMES, REWARD_METHODS, WEIGHT_MODES
from pacslab.config.alerts import AlertsConfig
from pacslab.config.base import MAX_TEXT, Float, Int, Section as _Section  # noqa: F401 - MAX_TEXT is part of this module's API
from pacslab.config.launch import LaunchConfig, SlurmConfig  # noqa: F401 - re-exported: the sections of the schema
from pacslab.config.sweep import SweepConfig
from pacslab.config.task import DATA_TYPES, ArithConfig, DataType, TaskConfig  # noqa: F401
from pacslab.model_paths import BUILTIN_PREFIX  # noqa: F401 - re-exported: the config's name for a shipped model


class LoraConfig(_Section):
    r: Int = Field(16, ge=1, description="Rank of each LoRA adapter.")
    alpha: Float = Field(32.0, gt=0, description="LoRA scaling numerator: the adapter's update is scaled by alpha / r.")
    dropout: Float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Dropout on the adapters' input during updates; above 0 the update's first forward no longer "
        "equals the no-grad pass at θ_old (ψ ≠ 0 at the start of a step).",
    )
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear",
        description="Module names that get adapters (e.g. [q_proj, k_proj, v_proj, o_proj]), or `all-linear` "
        "for every linear layer but the output head.",
    )


class ModelConfig(_Section):
    path: str = Field(
        "builtin:arith-tiny",
        min_length=1,
        description="The policy to train: a local Hugging Face model directory (relative to the "
        "config file) or `builtin:NAME` for a model shipped in pacslab/assets/. Never downloaded.",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="Compute dtype: `auto` is bfloat16 on CUDA and float32 on CPU. The trained weights "
        "and AdamW's state stay float32 (master weights) and the forward passes run in this dtype "
        "under autocast; checkpoints export the model in this dtype and keep the float32 masters for "
        "exact resume. The reference model (KL) is loaded in this dtype.",
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass to save memory (slower)."
    )
    lora: LoraConfig | None = Field(
        None,
        description="Train LoRA adapters (PEFT) instead of every weight: only the adapters train, the KL "
        "reference is the base with the adapters off, checkpoints hold the adapter and exports merge it. "
        "null = full fine-tuning.",
    )


class RolloutConfig(_Section):
    prompts_per_step: Int = Field(16, ge=1, description="Prompts (groups) sampled per training step.")
    n: Int = Field(8, ge=1, description="Responses sampled per prompt (the group size).")
    max_new_tokens: Int = Field(8, ge=1, description="Longest response; longer ones are cut and flagged truncated.")
    temperature: Float = Field(1.0, gt=0, description="Sampling temperature of the rollouts.")
    top_p: Float = Field(1.0, gt=0, le=1, description="Nucleus sampling threshold of the rollouts (1 = off).")
    max_prompt_tokens: Int | None = Field(
        None,
        ge=1,
        description="Training prompts longer than this many tokens (after the chat template) are left out, "
        "counted in data/prompts_too_long and the log, never truncated; null = no limit.",
    )
    batch_prompts: Int | None = Field(
        None,
        ge=1,
        description="Prompts (whole groups of n) decoded together; the step's prompts run in chunks of "
        "this many, bounding the KV cache. null = all of a step's prompts in one batch.",
    )
    engine: Literal["transformers", "vllm"] = Field(
        "transformers",
        description="Who samples the rollouts: `transformers` (generate with a KV cache) or `vllm` (engine: trl "
        "only, through TRL's vLLM support; needs `pip install 'pacslab[vllm]'`).",
    )
    vllm_server_url: str | None = Field(
        None,
        min_length=1,
        description="With rollout.engine vllm: the URL of a `trl vllm-serve` server (server mode); null = vLLM "
        "colocated in the training processes.",
    )
    dynamic_sampling: bool = Field(
        False,
        description="Sample more rounds of prompts_per_step prompts until the step holds prompts_per_step groups "
        "with mixed labels (DAPO's dynamic sampling); agreeing groups are dropped from the update (logged as "
        "sampling/*) but still count in the prompt ledger and the group shares reward/all_correct_frac, "
        "all_wrong_frac and mixed_group_frac that the no_signal alert reads.",
    )
    dynamic_sampling_max_rounds: Int = Field(
        4,
        ge=1,
        description="With rollout.dynamic_sampling: generation rounds a step may take at most; after the last the "
        "batch is filled with agreeing groups (sampling/unmixed_kept).",
    )


class PacsConfig(_Section):
    beta: Float = Field(1.0, gt=0, description="Scale β of the reward proxy r̂ (and of ψ).")
    reward_method: Literal[REWARD_METHODS] = Field(  # type: ignore[valid-type]
        "logratio",
        description="r̂ = β·Σ(logp − old_logp) over the response (`logratio`) or β·mean(logp) (`mean_logp`).",
    )
    adv_estimator: Literal[ADV_ESTIMATORS] = Field(  # type: ignore[valid-type]
        "rloo",
        description="ψ from r̂ within a group: leave-one-out baseline (`rloo`), group-normalised "
        "(`grpo`) or r̂ itself (`naive`).",
    )
    norm_by_std: bool = Field(True, description="With adv_estimator grpo, divide by the group's std of r̂.")
    weight_mode: Literal[WEIGHT_MODES] = Field(  # type: ignore[valid-type]
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
    micro_batch_tokens: Int | None = Field(
        None,
        ge=1,
        description="Token budget of a forward/backward pass, replacing optim.micro_batch_prompts: each "
        "mini-batch is cut into runs of rows whose rows × (prompt + longest response) stays within it "
        "(a longer row runs alone). Rows of a group may fall in different passes; the gradient is "
        "exactly the whole-group one. null = micro-batches of optim.micro_batch_prompts groups.",
    )
    logprob_chunk_tokens: Int = Field(
        2048,
        ge=1,
        description="Token positions whose logits exist at once in a log-prob pass: log-probs and "
        "entropy are taken chunk by chunk from the last hidden states, never a full [rows, tokens, "
        "vocabulary] in float32.",
    )
    epochs: Int = Field(1, ge=1, description="Passes over each step's rollouts.")
    share_prompts: bool = Field(
        True,
        description="Run each prompt once per group in the log-prob passes and let its n responses read "
        "it from a repeated KV cache (the same log-probs and gradients, fewer positions); false runs "
        "prompt + response for every row. Off by itself under gradient checkpointing.",
    )


class EvalSetConfig(_Section):
    name: str = Field(
        ..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", description="Name of the set: its metrics are eval/<name>/accuracy and eval/<name>/pass@k."
    )
    file: str = Field(..., min_length=1, description="The set's rows (a file, glob or folder, as task.train_file).")
    type: DataType | None = Field(None, description="Format of the set's files; null = task.type.")
    size: Int | None = Field(None, ge=1, description="Prompts evaluated; null = eval.size.")
    samples: Int | None = Field(None, ge=1, description="Samples per prompt for pass@k; null = eval.samples.")
    k: list[Int] | None = Field(None, min_length=1, description="The k of each pass@k (each ≤ samples); null = eval.k.")
    temperature: Float | None = Field(None, gt=0, description="Sampling temperature; null = eval.temperature.")
    top_p: Float | None = Field(None, gt=0, le=1, description="Nucleus threshold of the samples; null = eval.top_p.")
    max_new_tokens: Int | None = Field(None, ge=1, description="Longest response; null = rollout.max_new_tokens.")


class EvalConfig(_Section):
    size: Int | None = Field(200, ge=1, description="Held-out prompts evaluated (null = all of them).")
    samples: Int = Field(8, ge=1, description="Samples per prompt (m) for pass@k.")
    k: list[Int] = Field(
        [1, 8], min_length=1, description="The k of each reported pass@k (each ≤ samples)."
    )
    temperature: Float = Field(1.0, gt=0, description="Sampling temperature of the pass@k samples.")
    top_p: Float = Field(1.0, gt=0, le=1, description="Nucleus sampling threshold of the pass@k samples (1 = off).")
    batch_prompts: Int = Field(64, ge=1, description="Prompts per generation batch during evaluation.")
    sets: list[EvalSetConfig] = Field(
        [],
        description="More held-out sets, each `{name, file}` plus optional overrides of size, samples, k, "
        "temperature, top_p and max_new_tokens; evaluated beside task.eval_file.",
    )


class LoggingConfig(_Section):
    log_token_details: bool = Field(
        True, description="Write per-token strings and log-ratios into the rollout records (token heat-map)."
    )
    rollouts_jsonl: bool = Field(
        False, description="Write each step's rollout records as JSONL (rollouts/step-N.jsonl, for grep) instead of "
        "Parquet (rollouts/step-N.parquet, about ten times smaller); `python -m pacslab rollouts RUN --step N --jsonl` "
        "prints a Parquet step as JSONL."
    )
    rollouts_every: Int = Field(
        1, ge=0, description="Write the per-sample rollout records every this many steps (0 = never)."
    )
    critic_every: Int = Field(
        1,
        ge=0,
        description="Compute the critic after the update (ψ_post, one more no-grad forward of every row: "
        "the critic/* metrics and the records' psi, p_correct and token log-ratios) every this many "
        "steps; 0 = never. Other steps log no critic/* metrics and leave those record fields null.",
    )
    report_to: list[Literal["tensorboard", "wandb", "mlflow"]] = Field(
        [],
        description="Experiment trackers that also get every step's metrics and every evaluation: "
        "`tensorboard` (event files in the run's `tensorboard/`), `wandb` (offline, in the run's `wandb/`, "
        "unless WANDB_MODE is set) and `mlflow` (a file store in the run's `mlruns/` unless "
        "MLFLOW_TRACKING_URI is set); each needs its package (`pip install 'pacslab[<name>]'`).",
    )
    system_every_s: Float = Field(
        30.0,
        ge=0,
        description="Log the system metrics (system/*: process CPU and RSS; GPU allocated, reserved and peak "
        "memory and NVML utilisation on a GPU) with the first step and then at most every this many "
        "seconds; 0 = never.",
    )


ENGINES = ("native", "trl")


class Config(_Section):
    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Run name, part of the run id; default: the config file name without `.pacs.yaml`.",
    )
    algorithm: Literal[NAMES] = Field(  # type: ignore[valid-type]
        "pacs",
        description="The loss (registered in pacslab/algorithms.py): "
        + "; ".join(f"`{a.name}`, {a.summary}" + (" (the critic/* metrics are its own critic)" if a.implicit_critic else "")
                    for a in ALGORITHMS.values()) + ".",
    )
    seed: Int = Field(0, description="Seed of every random choice of the run (prompt order, sampling, init).")
    device: str = Field(
        "auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto (CUDA when present), cpu, cuda or cuda:N."
    )
    total_steps: Int = Field(100, ge=1, description="Training steps (one rollout batch and its updates each).")
    eval_every: Int = Field(
        25, ge=0, description="Evaluate every this many steps; 0 = only before the first step and at the end."
    )
    checkpoint_every: Int = Field(50, ge=0, description="Checkpoint every this many steps; 0 = only at the end.")
    checkpoint_keep: Int | None = Field(
        None,
        ge=1,
        description="Keep only the newest this many checkpoints (never deleting the one `latest` names); "
        "null = keep all.",
    )
    engine: Literal["native", "trl"] = Field(
        "native",
        description="Who runs the training loop: `native`, this package's own one-process loop, or `trl`, "
        "TRL's GRPOTrainer on accelerate (several processes, GPUs and nodes, DeepSpeed/FSDP) with the "
        "same losses and run directory (docs/scaling.md).",
    )
    trl: dict[str, Any] = Field(
        {},
        description="Further `trl.GRPOConfig` fields passed through as they are (engine: trl), e.g. "
        "`{gradient_accumulation_steps: 2, logging_steps: 1}`; each is checked against GRPOConfig, and a "
        "field another section sets (learning rate, batch, sampling) is an error naming that section.",
    )
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
    alerts: AlertsConfig = Field(AlertsConfig(), description="Health rules evaluated after every step, each with its action (docs/diagnostics.md).")
    launch: LaunchConfig = Field(
        LaunchConfig(),
        description="Where and how the trainer runs: the backend (local or Slurm) and the training processes (engine: trl).",
    )
    sweep: SweepConfig | None = Field(
        None,
        description="A sweep over this config: parameters × seeds, run by `pacs-lab sweep` or ▶ Sweep "
        "(docs/sweeps.md); `train` ignores it. null = none.",
    )
