"""The experiment config (`*.pacs.yaml`): pydantic models, loading, overrides and checks.

Every check that can fail runs here, before any model loads, and fails with a `ConfigError`
that names the file, the key path, the line when known, what is wrong and how to fix it.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

BUILTIN_PREFIX = "builtin:"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ModelConfig(_Section):
    path: str = Field(
        "builtin:arith-tiny",
        min_length=1,
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
    digits: int = Field(3, ge=1, le=9, description="Digits per operand of the generated problems.")
    ops: list[Literal["+", "-", "*"]] = Field(
        ["+"], min_length=1, description="Operators to draw problems from."
    )
    train_size: int = Field(20000, ge=1, description="Number of generated training problems.")
    eval_size: int = Field(200, ge=1, description="Number of generated held-out problems.")
    seed: int = Field(1234, description="Seed of the problem generator (independent of the run seed).")


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
        None, description="Training rows (type jsonl or parquet), relative to the config file."
    )
    eval_file: str | None = Field(
        None, description="Held-out rows (type jsonl or parquet, required there), relative to the config file."
    )
    prompt_field: str = Field("prompt", min_length=1, description="Column holding the prompt text.")
    answer_field: str = Field("answer", min_length=1, description="Column holding the reference answer.")
    id_field: str | None = Field(None, description="Column holding a row id; null = the row number.")
    template: str = Field(
        "{prompt}", description="str.format template applied to each prompt; must contain `{prompt}`."
    )
    verifier: str = Field(
        "exact",
        pattern=r"^(exact|math|python:[A-Za-z_][\w.]*:[A-Za-z_]\w*)$",
        description="How a response is checked: `exact` (normalised string or number), `math` "
        "(math-verify equivalence of the boxed or last answer) or `python:module:function` "
        "(your own; module importable from the config's folder).",
    )


class RolloutConfig(_Section):
    prompts_per_step: int = Field(16, ge=1, description="Prompts (groups) sampled per training step.")
    n: int = Field(8, ge=1, description="Responses sampled per prompt (the group size).")
    max_new_tokens: int = Field(8, ge=1, description="Longest response; longer ones are cut and flagged truncated.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the rollouts.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling threshold of the rollouts (1 = off).")


class PacsConfig(_Section):
    beta: float = Field(1.0, gt=0, description="Scale β of the reward proxy r̂ (and of ψ).")
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
    clip_eps: float = Field(0.2, gt=0, lt=1, description="PPO clip range ε of the GRPO surrogate.")
    kl_coef: float = Field(
        0.0, ge=0, description="Coefficient of the k3 KL to a frozen reference; > 0 loads the reference model."
    )


class OptimConfig(_Section):
    lr: float = Field(1.0e-3, gt=0, description="Peak learning rate of AdamW.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW decoupled weight decay.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW (β1, β2).")
    schedule: Literal["constant", "warmup_cosine"] = Field(
        "constant",
        description="Learning-rate schedule over the training steps: constant, or linear warm-up "
        "then cosine decay to lr·min_lr_ratio.",
    )
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps (schedule warmup_cosine).")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Final lr / peak lr (schedule warmup_cosine).")
    max_grad_norm: float = Field(1.0, ge=0, description="Clip the gradient norm to this value; 0 = no clipping.")
    mini_batch_prompts: int = Field(
        16, ge=1, description="Prompts (whole groups) per optimizer step; must divide rollout.prompts_per_step."
    )
    micro_batch_prompts: int = Field(
        16,
        ge=1,
        description="Prompts per forward/backward pass (gradients accumulate); must divide "
        "optim.mini_batch_prompts.",
    )
    epochs: int = Field(1, ge=1, description="Passes over each step's rollouts.")
    share_prompts: bool = Field(
        True,
        description="Run each prompt once per group in the log-prob passes and let its n responses read "
        "it from a repeated KV cache (the same log-probs and gradients, fewer positions); false runs "
        "prompt + response for every row. Off by itself under gradient checkpointing.",
    )


class EvalConfig(_Section):
    size: int | None = Field(200, ge=1, description="Held-out prompts evaluated (null = all of them).")
    samples: int = Field(8, ge=1, description="Samples per prompt (m) for pass@k.")
    k: list[int] = Field(
        [1, 8], min_length=1, description="The k of each reported pass@k (each ≤ samples)."
    )
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the pass@k samples.")
    batch_prompts: int = Field(64, ge=1, description="Prompts per generation batch during evaluation.")


class LoggingConfig(_Section):
    log_token_details: bool = Field(
        True, description="Write per-token strings and log-ratios into the rollout records (token heat-map)."
    )
    rollouts_every: int = Field(
        1, ge=0, description="Write the per-sample rollout records every this many steps (0 = never)."
    )


class Config(_Section):
    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Run name, part of the run id; default: the config file name without `.pacs.yaml`.",
    )
    algorithm: Literal["pacs", "grpo", "rloo"] = Field(
        "pacs", description="The loss: PACS (implicit critic), or the GRPO / RLOO baselines."
    )
    seed: int = Field(0, description="Seed of every random choice of the run (prompt order, sampling, init).")
    device: str = Field(
        "auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto (CUDA when present), cpu, cuda or cuda:N."
    )
    total_steps: int = Field(100, ge=1, description="Training steps (one rollout batch and its updates each).")
    eval_every: int = Field(
        25, ge=0, description="Evaluate every this many steps; 0 = only before the first step and at the end."
    )
    checkpoint_every: int = Field(50, ge=0, description="Checkpoint every this many steps; 0 = only at the end.")
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


# ---------------------------------------------------------------- errors


@dataclass
class Issue:
    key: str
    problem: str
    fix: str
    line: int | None = None


class ConfigError(Exception):
    """A config that cannot run. `str()` is the message for the user (one line per issue)."""

    def __init__(self, file: str | Path | None, issues: list[Issue]):
        self.file = str(file) if file is not None else None
        self.issues = issues
        super().__init__(self._format())

    def _format(self) -> str:
        lines = []
        for issue in self.issues:
            where = self.file or "<config>"
            if issue.line is not None:
                where += f":{issue.line}"
            lines.append(f"{where}: {issue.key or '(top level)'}: {issue.problem}. Fix: {issue.fix}")
        return "\n".join(lines)


# ---------------------------------------------------------------- loading


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a `*.pacs.yaml`, apply `key.sub=value` overrides, validate and check it.

    Raises ConfigError naming the file, key, line and fix of every problem found.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [Issue("", f"cannot read the file ({exc.strerror})", "check the path")]) from None
    data, lines = _parse_yaml(text, path)
    override_keys = set()
    for item in overrides or []:
        override_keys.add(_apply_override(data, item, path))
    if data.get("name") is None:
        data["name"] = default_name(path)
    cfg = validate_data(data, path, lines, override_keys)
    check_config(cfg, base_dir=path.resolve().parent, file=path, lines=lines, override_keys=override_keys)
    return cfg


def default_name(path: Path) -> str:
    name = path.name
    for suffix in (".yaml", ".yml", ".pacs"):
        name = name.removesuffix(suffix)
    safe = "".join(c if c.isalnum() or c in "_.-" else "-" for c in name).lstrip("-_.")
    return safe or "run"


def _parse_yaml(text: str, path: Path) -> tuple[dict, dict[tuple, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [Issue("", f"not valid YAML ({problem})", "correct the YAML syntax", line)]) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(path, [Issue("", "the file is not a mapping of keys", "write `key: value` lines", 1)])
    lines: dict[tuple, int] = {}
    _collect_lines(node, (), lines)
    return data, lines


def _collect_lines(node: yaml.Node | None, prefix: tuple, out: dict[tuple, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = prefix + (key_node.value,)
            out[key] = key_node.start_mark.line + 1
            _collect_lines(value_node, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[prefix + (i,)] = item.start_mark.line + 1
            _collect_lines(item, prefix + (i,), out)


def _apply_override(data: dict, item: str, path: Path) -> str:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(path, [Issue(item, "an override must look like key.sub=value", "write e.g. --set optim.lr=0.001")])
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            dotted = ".".join(parts[: i + 1])
            raise ConfigError(path, [Issue(key, f"{dotted} is not a section", f"override a key of a section, not inside {dotted}")])
        node = child
    node[parts[-1]] = value
    return key


def validate_data(data: dict, file: str | Path | None = None, lines: dict | None = None, override_keys=()) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        issues = [_issue_from_error(err, lines or {}, override_keys) for err in exc.errors()]
        raise ConfigError(file, issues) from None


def _issue_from_error(err: dict, lines: dict, override_keys) -> Issue:
    loc = tuple(err["loc"])
    # a union member's name (e.g. "int" for `int | None`) is not part of the key path
    loc = tuple(p for p in loc if not (isinstance(p, str) and p in {"int", "float", "str", "none", "list[int]"}))
    key = ".".join(str(p) for p in loc)
    where = " (from --set)" if key in override_keys else ""
    line = None if where else _line_of(loc, lines)
    kind = err["type"]
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        guess = suggest(str(loc[-1]), known)
        fix = f"did you mean `{guess}`?" if guess else "remove it."
        fix += f" Known keys here: {', '.join(known)}"
        return Issue(key, f"unknown key{where}", fix, line)
    value = err.get("input")
    shown = json.dumps(value, default=str) if not isinstance(value, dict) else "a mapping"
    problem = f"{err['msg'][0].lower()}{err['msg'][1:]} (got {shown}){where}"
    return Issue(key, problem, _fix_for(loc), line)


def suggest(name: str, known: list[str]) -> str | None:
    """The known key `name` most likely meant: a close spelling, an abbreviation or its initials.

    >>> suggest("totl_steps", ["total_steps", "seed"]), suggest("learning_rate", ["lr", "betas"])
    ('total_steps', 'lr')
    """
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return close[0]
    initials = "".join(part[:1] for part in name.split("_"))
    for key in known:
        if key == initials or (len(key) >= 2 and (name.startswith(key) or key.startswith(name))):
            return key
    return None


def _line_of(loc: tuple, lines: dict) -> int | None:
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _field_at(loc: tuple):
    """The pydantic FieldInfo at a key path, or None."""
    model: Any = Config
    info = None
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return info if isinstance(part, int) else None
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = info.annotation
    return info


def _known_keys(loc: tuple) -> list[str]:
    if not loc:
        return list(Config.model_fields)
    info = _field_at(loc)
    ann = info.annotation if info else None
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return list(ann.model_fields)
    return []


def _fix_for(loc: tuple) -> str:
    info = _field_at(tuple(p for p in loc if not isinstance(p, int)))
    if info is None:
        return "see docs/config.md"
    allowed = _literal_values(info.annotation)
    text = info.description or ""
    if allowed:
        return f"use one of {', '.join(map(str, allowed))} ({text})"
    bounds = []
    for m in info.metadata:
        for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                bounds.append(f"{sym} {getattr(m, attr)}")
    suffix = f" ({'and '.join(bounds)})" if bounds else ""
    return f"set a valid value{suffix}: {text}"


def _literal_values(ann) -> list:
    if get_origin(ann) is Literal:
        return list(get_args(ann))
    for arg in get_args(ann):
        values = _literal_values(arg)
        if values:
            return values
    return []


# ---------------------------------------------------------------- cross-field checks


def resolve_path(path: str, base_dir: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base_dir / p)


def check_config(cfg: Config, *, base_dir: Path, file: str | Path | None = None, lines: dict | None = None,
                 override_keys=()) -> None:
    """Checks across fields and against the file system, run before any model loads."""
    lines = lines or {}
    issues: list[Issue] = []

    def add(key: str, problem: str, fix: str) -> None:
        if key in override_keys:
            issues.append(Issue(key, f"{problem} (from --set)", fix))
        else:
            issues.append(Issue(key, problem, fix, _line_of(tuple(key.split(".")), lines)))

    n = cfg.rollout.n
    if n < 2:
        if cfg.algorithm == "rloo":
            add("rollout.n", f"algorithm rloo needs at least 2 responses per prompt for its leave-one-out baseline (n = {n})", "set rollout.n to 2 or more (8 is usual)")
        elif cfg.algorithm == "grpo":
            add("rollout.n", f"algorithm grpo normalises rewards within a group, which needs at least 2 responses (n = {n})", "set rollout.n to 2 or more (8 is usual)")
        elif cfg.pacs.adv_estimator != "naive":
            add("rollout.n", f"pacs.adv_estimator {cfg.pacs.adv_estimator} compares responses within a group, which needs at least 2 (n = {n})", "set rollout.n to 2 or more, or pacs.adv_estimator to naive")

    B, mini, micro = cfg.rollout.prompts_per_step, cfg.optim.mini_batch_prompts, cfg.optim.micro_batch_prompts
    if B % mini:
        add("optim.mini_batch_prompts", f"{mini} does not divide rollout.prompts_per_step ({B}), so a mini-batch would split a step's groups", f"use a divisor of {B}: {_divisors(B)}")
    elif mini % micro:
        add("optim.micro_batch_prompts", f"{micro} does not divide optim.mini_batch_prompts ({mini})", f"use a divisor of {mini}: {_divisors(mini)}")

    for k in cfg.eval.k:
        if k < 1 or k > cfg.eval.samples:
            add("eval.k", f"pass@{k} needs 1 ≤ k ≤ eval.samples ({cfg.eval.samples})", f"drop {k} from eval.k or raise eval.samples to at least {k}")
    if cfg.optim.schedule == "warmup_cosine" and cfg.optim.warmup_steps >= cfg.total_steps:
        add("optim.warmup_steps", f"the warm-up ({cfg.optim.warmup_steps} steps) does not end before total_steps ({cfg.total_steps})", "lower optim.warmup_steps or raise total_steps")
    if "{prompt}" not in cfg.task.template:
        add("task.template", "the template has no `{prompt}` placeholder", 'include {prompt}, e.g. "Question: {prompt}\\nAnswer:"')
    else:
        try:
            cfg.task.template.format(prompt="")
        except (KeyError, IndexError, ValueError) as exc:
            add("task.template", f"the template is not a valid str.format string ({exc!r})", "escape literal braces as {{ and }} and use only {prompt}")

    from pacslab.models import resolve_model_path

    try:
        resolve_model_path(cfg.model.path, base_dir=base_dir)
    except ValueError as exc:
        problem, _, fix = str(exc).removeprefix(f"model.path is {cfg.model.path!r}: ").rpartition("; ")
        add("model.path", problem or fix, fix if problem else "point model.path at a local Hugging Face model directory")

    if cfg.task.type in ("jsonl", "parquet"):
        for key, split in (("train_file", "training"), ("eval_file", "held-out")):
            if not getattr(cfg.task, key):
                add(f"task.{key}", f"task.type {cfg.task.type} needs a {split} file", f"set task.{key} to a .{cfg.task.type} file (relative to the config file)")
        for key in ("train_file", "eval_file"):
            value = getattr(cfg.task, key)
            if value and not resolve_path(value, base_dir).is_file():
                add(f"task.{key}", f"the file {resolve_path(value, base_dir)} does not exist", "fix the path (relative paths are relative to the config file)")
    if cfg.task.verifier.startswith("python:"):
        module = cfg.task.verifier.split(":")[1]
        if not _module_findable(module, base_dir):
            add("task.verifier", f"the module {module!r} is neither in the config's folder nor importable", f"put {module.replace('.', '/')}.py beside the config file, or install the package")
    if issues:
        raise ConfigError(file, issues)


def _module_findable(module: str, base_dir: Path) -> bool:
    import importlib.util

    top = module.split(".")[0]
    if (base_dir / f"{top}.py").is_file() or (base_dir / top / "__init__.py").is_file():
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def _divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(1, n + 1) if n % d == 0)


# ---------------------------------------------------------------- resolved config and schema


def resolved_dict(cfg: Config, base_dir: Path) -> dict:
    """The config with every relative path made absolute, so it runs from any folder."""
    data = cfg.model_dump(mode="json")
    if not cfg.model.path.startswith(BUILTIN_PREFIX):
        data["model"]["path"] = os.path.abspath(resolve_path(cfg.model.path, base_dir))
    for key in ("train_file", "eval_file"):
        if data["task"][key]:
            data["task"][key] = os.path.abspath(resolve_path(data["task"][key], base_dir))
    return data


def json_schema() -> dict:
    schema = Config.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://pacs-lab.dev/schemas/pacs-config.schema.json",
        "title": "PACS Lab training config (*.pacs.yaml)",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schema_markdown() -> str:
    """docs/config.md: one table per section, generated from the field descriptions."""
    out = [
        "# Config reference (`*.pacs.yaml`)",
        "",
        "Generated by `python -m pacslab schema --markdown` from the pydantic models in",
        "`trainer/pacslab/config.py`; do not edit by hand. Unknown keys are errors. Override any key",
        "on the command line with `--set section.key=value` (the value is read as YAML).",
        "",
    ]

    def table(model: type[BaseModel], prefix: str) -> list[str]:
        rows = ["| key | type | default | description |", "|---|---|---|---|"]
        nested = []
        for name, info in model.model_fields.items():
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                nested.append((f"{prefix}{name}", ann, info.description))
                continue
            default = info.get_default(call_default_factory=True)
            rows.append(
                f"| `{prefix}{name}` | {_type_name(ann)} | `{json.dumps(default)}` | {_constraints(info)}{info.description} |"
            )
        lines = rows
        for key, sub, desc in nested:
            lines += ["", f"## `{key}`", "", desc or "", ""] + table(sub, f"{key}.")
        return lines

    out += ["## Top level", ""] + table(Config, "")
    return "\n".join(out) + "\n"


def _type_name(ann) -> str:
    values = _literal_values(ann)
    if values:
        return " \\| ".join(f"`{v}`" for v in values)
    text = getattr(ann, "__name__", None) or str(ann)
    return str(ann).replace("typing.", "").replace("|", "\\|") if text == str(ann) or get_args(ann) else text


def _constraints(info) -> str:
    parts = []
    for m in info.metadata:
        for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                parts.append(f"{sym} {getattr(m, attr)}")
    return f"({', '.join(parts)}) " if parts else ""
