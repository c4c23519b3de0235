"""Checks across fields and against the file system, run before any model loads."""

from __future__ import annotations

from pathlib import Path

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
            issues.append(Issue(key, problem, fix, line_of(tuple(key.split(".")), lines)))

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
        module = cfg.task.verifier.removeprefix("python:").rpartition(":")[0]
        if module.endswith(".py"):
            if not resolve_path(module, base_dir).is_file():
                add("task.verifier", f"the file {resolve_path(module, base_dir)} does not exist", "fix the path (relative paths are relative to the config file)")
        elif not _module_findable(module, base_dir):
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
