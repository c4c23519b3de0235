"""Reading a `*.pacs.yaml`: YAML with line numbers, `--set` overrides, validation, resolved paths."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from pacslab.config.checks import check_config, resolve_path
from pacslab.config.errors import ConfigError, Issue, issue_from_error
from pacslab.config.schema import BUILTIN_PREFIX, Config

MAX_CONFIG_BYTES = 1 << 20  # PyYAML reads about 0.2 MB a second: a bigger file would take long to refuse

def load_config(path: str | Path, overrides: list[str] | None = None, *, base_dir: str | Path | None = None) -> Config:
    """Read a `*.pacs.yaml`, apply `key.sub=value` overrides, validate and check it. Relative paths
    and verifier modules resolve against `base_dir` (default: the file's folder; a run's config.yaml
    resolves against the run's `config_dir`).

    Raises ConfigError naming the file, key, line and fix of every problem found.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(path, [Issue("", f"cannot read the file ({exc.strerror})", "check the path")]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(path, [Issue("", f"the file is larger than {MAX_CONFIG_BYTES:,} bytes, far more than any config",
                                       "keep long texts (prompts, data) in data files that the config names")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [Issue("", f"the file is not UTF-8 text (byte {exc.start})", "save it as UTF-8")]) from None
    data, lines = _parse_yaml(text, path)
    override_keys = set()
    for item in overrides or []:
        override_keys.add(_apply_override(data, item, path))
    if data.get("name") is None:
        data["name"] = default_name(path)
    cfg = validate_data(data, path, lines, override_keys)
    check_config(cfg, base_dir=Path(base_dir) if base_dir is not None else path.resolve().parent, file=path, lines=lines,
                 override_keys=override_keys)
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
        issues = [issue_from_error(err, lines or {}, override_keys) for err in exc.errors()]
        raise ConfigError(file, issues) from None


def resolved_dict(cfg: Config, base_dir: Path) -> dict:
    """The config with every relative path made absolute, so it runs from any folder."""
    data = cfg.model_dump(mode="json")
    if not cfg.model.path.startswith(BUILTIN_PREFIX):
        data["model"]["path"] = os.path.abspath(resolve_path(cfg.model.path, base_dir))
    for key in ("train_file", "eval_file"):
        if data["task"][key]:
            data["task"][key] = os.path.abspath(resolve_path(data["task"][key], base_dir))
    for entry in data["eval"]["sets"]:
        entry["file"] = os.path.abspath(resolve_path(entry["file"], base_dir))
    return data
