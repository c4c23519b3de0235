"""Config errors that name the file, the key, the line and the fix; pydantic's errors translated."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from pacslab.config.schema import Config

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


def issue_from_error(err: dict, lines: dict, override_keys) -> Issue:
    loc = tuple(err["loc"])
    # a union member's name (e.g. "int" for `int | None`) is not part of the key path
    loc = tuple(p for p in loc if not (isinstance(p, str) and p in {"int", "float", "str", "none", "list[int]"}))
    key = ".".join(str(p) for p in loc)
    where = " (from --set)" if key in override_keys else ""
    line = None if where else line_of(loc, lines)
    kind = err["type"]
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        guess = suggest(str(loc[-1]), known)
        fix = f"did you mean `{guess}`?" if guess else "remove it."
        fix += f" Known keys here: {', '.join(known)}"
        return Issue(key, f"unknown key{where}", fix, line)
    value = err.get("input")
    shown = _short(json.dumps(value, default=str)) if not isinstance(value, dict) else "a mapping"
    problem = f"{err['msg'][0].lower()}{err['msg'][1:]} (got {shown}){where}"
    if kind == "string_too_long":  # every text key is bounded (schema.MAX_TEXT), most by the section's limit
        return Issue(key, problem, f"shorten it to at most {err['ctx']['max_length']:,} characters", line)
    return Issue(key, problem, _fix_for(loc), line)


def _short(text: str, limit: int = 80) -> str:
    """A value cut for an error line (a bad value may be megabytes long)."""
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text):,} characters)"


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


def line_of(loc: tuple, lines: dict) -> int | None:
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def section_model(ann) -> type[BaseModel] | None:
    """The section model of an annotation: `Model`, `Model | None` or `list[Model]`, else None."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in get_args(ann):
        model = section_model(arg)
        if model is not None:
            return model
    return None


def _field_at(loc: tuple):
    """The pydantic FieldInfo at a key path (list indices skipped), or None."""
    model: Any = Config
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None:
            return None
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = section_model(info.annotation)
    return info


def _known_keys(loc: tuple) -> list[str]:
    if not [p for p in loc if not isinstance(p, int)]:
        return list(Config.model_fields)
    info = _field_at(loc)
    model = section_model(info.annotation) if info else None
    return list(model.model_fields) if model else []


def _fix_for(loc: tuple) -> str:
    info = _field_at(loc)
    if info is None:
        return "see docs/config.md"
    allowed = literal_values(info.annotation)
    text = info.description or ""
    if allowed:
        return f"use one of {', '.join(map(str, allowed))} ({text})"
    limits = bounds(info)
    suffix = f" ({' and '.join(limits)})" if limits else ""
    return f"set a valid value{suffix}: {text}"


def literal_values(ann) -> list:
    if get_origin(ann) is Literal:
        return list(get_args(ann))
    for arg in get_args(ann):
        values = literal_values(arg)
        if values:
            return values
    return []


BOUND_SYMBOLS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def bounds(info) -> list[str]:
    """A field's numeric bounds as text, e.g. ["≥ 1", "≤ 9"]."""
    limits = [f"{sym} {getattr(m, attr)}" for m in info.metadata for attr, sym in BOUND_SYMBOLS
              if getattr(m, attr, None) is not None]
    return limits + [f"at most {m.max_length:,} characters" for m in info.metadata
                     if getattr(m, "max_length", None) is not None]
