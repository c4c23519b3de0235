"""Checks across fields and against the file system, run before any model loads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pacslab.algorithms import get as get_algorithm
from pacslab.config.errors import ConfigError, Issue, line_of
from pacslab.config.schema import Config

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
            issues.append(Issue(key, problem, fix, line_of(tuple(int(p) if p.isdigit() else p for p in key.split(".")), lines)))

    for rule in get_algorithm(cfg.algorithm).requirements(cfg):
        add(rule.key, rule.problem, rule.fix)

    _check_sizes(cfg, add)
    B, mini, micro = cfg.rollout.prompts_per_step, cfg.optim.mini_batch_prompts, cfg.optim.micro_batch_prompts
    if B % mini:
        add("optim.mini_batch_prompts", f"{mini} does not divide rollout.prompts_per_step ({B}), so a mini-batch would split a step's groups", f"use a divisor of {B}: {_divisors(B)}")
    elif mini % micro:
        add("optim.micro_batch_prompts", f"{micro} does not divide optim.mini_batch_prompts ({mini})", f"use a divisor of {mini}: {_divisors(mini)}")

    for k in cfg.eval.k:
        if k < 1 or k > cfg.eval.samples:
            add("eval.k", f"pass@{k} needs 1 ≤ k ≤ eval.samples ({cfg.eval.samples})", f"drop {k} from eval.k or raise eval.samples to at least {k}")
    _check_eval_sets(cfg, base_dir, add)
    for name in cfg.logging.report_to:
        if importlib.util.find_spec(name) is None:
            add("logging.report_to", f"{name} is not installed in this Python",
                f"pip install {name} (or 'pacslab[{name}]'), or remove {name} from logging.report_to")
    if cfg.task.system_prompt and cfg.task.type == "arith" and not cfg.task.chat:
        add("task.system_prompt", "the arith prompts are plain strings, and a system prompt needs chat messages", "set task.chat: true, or remove task.system_prompt")
    if cfg.model.lora and isinstance(cfg.model.lora.target_modules, list) and not cfg.model.lora.target_modules:
        add("model.lora.target_modules", "the list is empty, so no module would get an adapter", "name modules such as [q_proj, v_proj], or use all-linear")
    if cfg.optim.schedule == "warmup_cosine" and cfg.optim.warmup_steps >= cfg.total_steps:
        add("optim.warmup_steps", f"the warm-up ({cfg.optim.warmup_steps} steps) does not end before total_steps ({cfg.total_steps})", "lower optim.warmup_steps or raise total_steps")
    if "{prompt}" not in cfg.task.template:
        add("task.template", "the template has no `{prompt}` placeholder", 'include {prompt}, e.g. "Question: {prompt}\\nAnswer:"')
    else:
        try:
            cfg.task.template.format(prompt="")
        except (KeyError, IndexError, ValueError) as exc:
            add("task.template", f"the template is not a valid str.format string ({exc!r})", "escape literal braces as {{ and }} and use only {prompt}")

    from pacslab.model_paths import resolve_model_path

    try:
        resolve_model_path(cfg.model.path, base_dir=base_dir)
    except ValueError as exc:
        problem, _, fix = str(exc).removeprefix(f"model.path is {cfg.model.path!r}: ").rpartition("; ")
        add("model.path", problem or fix, fix if problem else "point model.path at a local Hugging Face model directory")

    _check_data(cfg, base_dir, add)
    from pacslab.engines.checks import check_engines

    check_engines(cfg, base_dir, add)
    for key in ("verifier", "audit_verifier"):
        spec = getattr(cfg.task, key) or ""
        if not spec.startswith(("python:", "verl:", "trl:")):
            continue
        module = spec.partition(":")[2].rpartition(":")[0]
        if module.endswith(".py"):
            if not resolve_path(module, base_dir).is_file():
                add(f"task.{key}", f"the file {resolve_path(module, base_dir)} does not exist", "fix the path (relative paths are relative to the config file)")
        elif not _module_findable(module, base_dir):
            add(f"task.{key}", f"the module {module!r} is neither in the config's folder nor importable", f"put {module.replace('.', '/')}.py beside the config file, or install the package")
    if issues:
        raise ConfigError(file, issues)


def _check_data(cfg: Config, base_dir: Path, add) -> None:
    """Every data file the task names exists (a file, glob, folder); a Hub name says how to fetch it."""
    if cfg.task.type == "arith":
        return
    needed = {"train_file": "training", "eval_file": "held-out"} if not cfg.eval.sets else {"train_file": "training"}
    for key in ("train_file", "eval_file"):
        value = getattr(cfg.task, key)
        if not value:
            if key in needed:
                extra = " (or list eval.sets)" if key == "eval_file" else ""
                add(f"task.{key}", f"task.type {cfg.task.type} needs a {needed[key]} file", f"set task.{key} to a file, glob or folder relative to the config file{extra}")
            continue
        _check_source(value, cfg.task.type, f"task.{key}", base_dir, add)


def _check_eval_sets(cfg: Config, base_dir: Path, add) -> None:
    seen: set[str] = set()
    for i, s in enumerate(cfg.eval.sets):
        key = f"eval.sets.{i}"
        if s.name in seen:
            add(f"{key}.name", f"two eval sets are named {s.name!r}", "give each set its own name (it is part of the metric names)")
        seen.add(s.name)
        samples = s.samples or cfg.eval.samples
        for k in s.k or cfg.eval.k:
            if k > samples:
                add(f"{key}.k", f"pass@{k} needs k ≤ the set's samples ({samples})", f"drop {k} from the set's k, or raise its samples to at least {k}")
        data_type = s.type or cfg.task.type
        if data_type == "arith":
            add(f"{key}.type", "task.type is arith, so the set's file needs a type of its own", "set it to jsonl, json, parquet, csv or dataset")
            continue
        _check_source(s.file, data_type, f"{key}.file", base_dir, add)


def _check_source(spec: str, data_type: str, key: str, base_dir: Path, add) -> None:
    from pacslab.data_files import DataError, data_sources

    try:
        data_sources(spec, data_type, key=key, base_dir=base_dir)
    except DataError as err:
        issue = err.issues[0]
        add(key, issue.problem, issue.fix)


def _module_findable(module: str, base_dir: Path) -> bool:
    import importlib.util

    top = module.split(".")[0]
    if (base_dir / f"{top}.py").is_file() or (base_dir / top / "__init__.py").is_file():
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


# What one step may hold: far beyond real runs (groups of 4 to 64, tens to a few thousand prompts),
# short of what exhausts a machine after the model loads (rollout.n: 1000000 would need ~74 GB).
MAX_GROUP_SIZE = 4096
MAX_PROMPTS_PER_STEP = 65_536
MAX_SAMPLES_PER_STEP = 1_048_576
MAX_PROMPT_TOKENS = 1_048_576


def _check_sizes(cfg: Config, add) -> None:
    r = cfg.rollout
    if r.n > MAX_GROUP_SIZE:
        add("rollout.n", f"{r.n:,} responses per prompt is more than the {MAX_GROUP_SIZE:,} PACS Lab samples in one group",
            "use a group size of 4 to 64 (more samples per step: raise rollout.prompts_per_step)")
    if r.prompts_per_step > MAX_PROMPTS_PER_STEP:
        add("rollout.prompts_per_step", f"{r.prompts_per_step:,} prompts per step is more than the {MAX_PROMPTS_PER_STEP:,} one step may sample",
            "use tens to a few thousand prompts per step (total_steps sets how long training goes)")
    elif r.n <= MAX_GROUP_SIZE and r.n * r.prompts_per_step > MAX_SAMPLES_PER_STEP:
        add("rollout.prompts_per_step", f"rollout.n × rollout.prompts_per_step = {r.n * r.prompts_per_step:,} samples per step, more than the {MAX_SAMPLES_PER_STEP:,} one step may hold",
            f"lower rollout.prompts_per_step to at most {MAX_SAMPLES_PER_STEP // r.n:,} or rollout.n")
    if r.max_prompt_tokens is not None and r.max_prompt_tokens > MAX_PROMPT_TOKENS:
        add("rollout.max_prompt_tokens", f"{r.max_prompt_tokens:,} tokens is more than the {MAX_PROMPT_TOKENS:,} a prompt may have",
            f"use the model's context length at most (and at most {MAX_PROMPT_TOKENS:,})")


def _divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(1, n + 1) if n % d == 0)
