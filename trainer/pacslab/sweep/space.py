"""The sweep's search space, checked against the config: every parameter key exists, a range is on
a number key, every value is one the key takes, a grid fits `max_runs`. A `*.sweep.yaml` names a
base config and holds the `sweep:` keys at its top level."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pacslab.config import Config, ConfigError, Issue, default_name, load_config, suggest, validate_data
from pacslab.config.errors import _field_at, line_of, section_model
from pacslab.config.loading import _parse_yaml
from pacslab.config.sweep import SweepConfig, SweepRange

SWEEP_SUFFIXES = (".sweep.yaml", ".sweep.yml")
# keys a sweep may not vary: the seed has `seeds`, the rest would break the sweep or its runs
FIXED_KEYS = {"seed": "list the seeds in sweep.seeds", "name": "the sweep names its runs",
              "sweep": "a sweep cannot vary itself", "launch.backend": "set sweep.backend"}


@dataclass
class Sweep:
    """A checked sweep: the base config file it runs, its spec, and the config (for the trials' checks)."""

    config_path: Path  # the *.pacs.yaml each trial trains
    spec: SweepConfig
    config: Config
    source: Path  # the file the sweep was declared in (the config, or a *.sweep.yaml)

    @property
    def name(self) -> str:
        """The config's name; a *.sweep.yaml's own file name (`arith-lr` for arith-lr.sweep.yaml)."""
        if is_sweep_file(self.source):
            return default_name(self.source).removesuffix(".sweep") or "sweep"
        return self.config.name or "sweep"

    @property
    def seeds(self) -> list[int]:
        return list(self.spec.seeds) or [self.config.seed]

    @property
    def n_trials(self) -> int:
        if self.spec.method == "grid":
            return grid_size(self.spec)
        return self.spec.max_runs // len(self.seeds) if self.spec.max_runs else 1


def is_sweep_file(path: Path) -> bool:
    return Path(path).name.endswith(SWEEP_SUFFIXES)


def load_sweep(path: str | Path) -> Sweep:
    """The sweep declared in a config's `sweep:` section or in a `*.sweep.yaml`; ConfigError naming
    the file, line, key and fix of every problem."""
    path = Path(path)
    if is_sweep_file(path):
        return _load_sweep_file(path)
    cfg = load_config(path)
    if cfg.sweep is None:
        raise ConfigError(path, [Issue("sweep", "the config has no sweep section",
                                       "add `sweep: {parameters: {optim.lr: [0.001, 0.003]}, seeds: [0, 1]}` (docs/sweeps.md)")])
    _, lines = _parse_yaml(path.read_text(encoding="utf-8"), path)
    check_sweep(cfg.sweep, cfg, file=path, lines=lines, prefix="sweep.")
    return Sweep(path, cfg.sweep, cfg, path)


def _load_sweep_file(path: Path) -> Sweep:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [Issue("", f"cannot read the file ({exc})", "check the path")]) from None
    data, lines = _parse_yaml(text, path)
    base = data.pop("base", None)
    if not isinstance(base, str) or not base:
        raise ConfigError(path, [Issue("base", "a *.sweep.yaml needs the config it sweeps",
                                       "add `base: my.pacs.yaml` (relative to this file)", line_of(("base",), lines))])
    base_path = (path.parent / base) if not Path(base).is_absolute() else Path(base)
    if not base_path.is_file():
        raise ConfigError(path, [Issue("base", f"{base_path} does not exist", "name a *.pacs.yaml relative to this file",
                                       line_of(("base",), lines))])
    try:
        spec = validate_data({"sweep": data}, path, {("sweep", *k): v for k, v in lines.items()}).sweep
    except ConfigError as exc:  # keys of this file are at its top level, not under sweep.
        raise ConfigError(path, [Issue(i.key.removeprefix("sweep."), i.problem, i.fix, i.line) for i in exc.issues]) from None
    cfg = load_config(base_path)
    check_sweep(spec, cfg, file=path, lines=lines, prefix="")
    return Sweep(base_path, spec, cfg, path)


def grid_size(spec: SweepConfig) -> int:
    sizes = [len(v) for v in spec.parameters.values() if isinstance(v, list)]
    return math.prod(sizes) if sizes else 1


def grid_points(spec: SweepConfig) -> list[dict]:
    names = list(spec.parameters)
    return [dict(zip(names, values)) for values in itertools.product(*(spec.parameters[n] for n in names))]


def field_kind(key: str) -> str | None:
    """`int`, `float` or `other` for a dotted config key; `any` inside `trl:`; None when no such key."""
    parts = key.split(".")
    if parts[0] == "trl" and len(parts) == 2:
        return "any"
    info = _field_at(tuple(parts))
    if info is None or section_model(info.annotation) is not None:
        return None  # no such key, or a whole section rather than a value
    text = str(info.annotation)
    return "int" if "int" in text and "float" not in text else "float" if "float" in text else "other"


def _known_at(key: str) -> list[str]:
    model: Any = Config
    for part in key.split(".")[:-1]:
        info = model.model_fields.get(part) if model else None
        model = section_model(info.annotation) if info else None
    return list(model.model_fields) if model else []


def check_sweep(spec: SweepConfig, cfg: Config, *, file: Path, lines: dict, prefix: str) -> None:
    """Raises ConfigError for a sweep that cannot run with this config."""
    issues: list[Issue] = []

    def add(key: str, problem: str, fix: str, loc: tuple | None = None) -> None:
        full = prefix + key
        where = loc if loc is not None else tuple(full.split("."))
        issues.append(Issue(full, problem, fix, line_of(where, lines)))

    ploc = tuple((prefix + "parameters").split("."))
    if not spec.parameters and len(spec.seeds) < 2:
        add("parameters", "the sweep varies nothing", "name a config key to vary, e.g. `optim.lr: [0.001, 0.003]`, or list two or more seeds")
    base = cfg.model_dump(mode="json")
    sloc = tuple((prefix + "set").split("."))
    for key, value in spec.set.items():
        if key in FIXED_KEYS or key.startswith("sweep.") or field_kind(key) is None:
            add(f"set.{key}", "this key cannot be set for the trials" if field_kind(key) else "no such config key",
                FIXED_KEYS.get(key, "name a value key as in docs/config.md, dotted (total_steps, optim.lr)"), (*sloc, key))
        elif key in spec.parameters:
            add(f"set.{key}", "the key is also a parameter", "set it in one place: parameters or set", (*sloc, key))
        else:
            _check_value(base, key, value, add, (*sloc, key), label="set")
    for key, value in spec.set.items():  # the values every trial has, for the parameters' checks
        if f"set.{key}" not in {i.key.removeprefix(prefix) for i in issues}:
            _put(base, key, value)
    for key, values in spec.parameters.items():
        loc = (*ploc, key)
        if key in FIXED_KEYS or key.startswith("sweep."):
            add(f"parameters.{key}", "this key cannot be swept", FIXED_KEYS.get(key, "remove it"), loc)
            continue
        kind = field_kind(key)
        if kind is None:
            guess = suggest(key.split(".")[-1], _known_at(key))
            hint = f"did you mean `{'.'.join(key.split('.')[:-1] + [guess])}`?" if guess else "name a value key as in docs/config.md, dotted (optim.lr)"
            add(f"parameters.{key}", "no such config key", hint, loc)
            continue
        if isinstance(values, SweepRange):
            _check_range(spec, key, values, kind, add, loc)
            for v in (values.low, values.high) if kind in ("int", "float") else ():
                _check_value(base, key, int(v) if kind == "int" else v, add, loc)
            continue
        if not values:
            add(f"parameters.{key}", "the list is empty", "list at least one value", loc)
        if len({json.dumps(v) for v in values}) != len(values):
            add(f"parameters.{key}", "a value is listed twice", "list each value once", loc)
        for i, v in enumerate(values):
            _check_value(base, key, v, add, (*loc, i))
    if spec.method != "grid" and spec.max_runs is None:
        add("max_runs", f"method {spec.method} needs a number of runs", "set max_runs, e.g. `max_runs: 20`",
            (*ploc[:-1], "method"))
    if spec.method == "grid" and spec.max_runs is not None:
        runs = grid_size(spec) * max(1, len(spec.seeds))
        if runs > spec.max_runs:
            add("max_runs", f"the grid is {grid_size(spec)} combinations × {max(1, len(spec.seeds))} seeds = {runs} runs, more than max_runs ({spec.max_runs})",
                f"raise max_runs to {runs}, shorten the lists, or use method: random")
    if spec.max_runs is not None and spec.max_runs < max(1, len(spec.seeds)):
        add("max_runs", f"{spec.max_runs} runs cannot hold one trial of {len(spec.seeds)} seeds", f"raise max_runs to at least {len(spec.seeds)}")
    if len(set(spec.seeds)) != len(spec.seeds):
        add("seeds", "a seed is listed twice", "list each seed once")
    if issues:
        raise ConfigError(file, issues)


def _check_range(spec: SweepConfig, key: str, r: SweepRange, kind: str, add, loc: tuple) -> None:
    k = f"parameters.{key}"
    if spec.method == "grid":
        add(k, "a range cannot be a grid", f"list the values (`[{r.low:g}, {r.high:g}]`), or use method: random or tpe", loc)
    if kind not in ("int", "float"):
        add(k, "a range needs a number key", "list the values it should take instead", loc)
    elif kind == "int" and not (float(r.low).is_integer() and float(r.high).is_integer()):
        add(k, f"{key} is an integer, and low and high must be too", "write whole numbers", loc)
    if r.low >= r.high:
        add(k, f"low ({r.low:g}) is not below high ({r.high:g})", "swap them, or list one value", loc)
    if r.log and r.low <= 0:
        add(k, "a log range needs low > 0", "raise low above 0, or set log: false", loc)
    if r.log and r.step is not None:
        add(k, "a log range takes no step", "remove step, or set log: false", loc)


def _put(data: dict, key: str, value) -> None:
    node = data
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {}) if isinstance(node.get(part), dict) or node.get(part) is None else node[part]
    node[last] = value


def _check_value(base: dict, key: str, value, add, loc: tuple, label: str = "parameters") -> None:
    """The value is one the key takes: the base config with it set validates."""
    data = json.loads(json.dumps(base))
    _put(data, key, value)
    try:
        validate_data(data)
    except ConfigError as exc:
        for issue in exc.issues:
            if issue.key == key or issue.key.startswith(key + "."):
                add(f"{label}.{key}", f"{json.dumps(value)} is not a value of {key}: {issue.problem}", issue.fix, loc)
                return


def distributions(sweep: Sweep) -> dict:
    """Optuna's distribution of each parameter."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for key, values in sweep.spec.parameters.items():
        if isinstance(values, list):
            out[key] = CategoricalDistribution(values)
        elif field_kind(key) == "int":
            out[key] = IntDistribution(int(values.low), int(values.high), log=values.log, step=int(values.step or 1))
        else:
            out[key] = FloatDistribution(values.low, values.high, log=values.log, step=values.step)
    return out


def override(key: str, value) -> str:
    """The `--set` of one parameter (YAML reads JSON)."""
    return f"{key}={json.dumps(value)}"


def space_document(sweep: Sweep) -> dict:
    """space.json: the resolved space, as written into the sweep folder."""
    params = {}
    for key, values in sweep.spec.parameters.items():
        params[key] = {"values": values} if isinstance(values, list) else {"kind": field_kind(key), **values.model_dump()}
    return {"parameters": params, "set": sweep.spec.set, "seeds": sweep.seeds, "method": sweep.spec.method, "trials": sweep.n_trials,
            "metric": sweep.spec.metric.model_dump(), "grid": grid_points(sweep.spec) if sweep.spec.method == "grid" else None}


def dump_spec(sweep: Sweep) -> str:
    return yaml.safe_dump(sweep.spec.model_dump(mode="json"), sort_keys=False)
