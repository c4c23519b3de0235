"""Verifier regression cases: `task.verifier_cases`, a JSONL file beside the config.

One case a line, plain enough for the user's own pytest:

    {"prompt": "3*4=", "response": "12.0", "answer": "12", "expected": 1, "extra_info": null, "note": "..."}

`expected` is the label the verifier must give (1 or 0, or true/false); `extra_info`,
`data_source`, `id` and `note` are optional. `python -m pacslab verify-cases CONFIG` runs the
config's verifier on every case (in its worker pool, with its time limit) and exits 1 naming each
miss; `python -m pacslab train` runs them before anything else and refuses to launch on a miss (a
config error listing the failing cases; `--skip-verifier-cases` launches anyway).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pacslab.config import ConfigError
from pacslab.config.errors import Issue

KEY = "task.verifier_cases"
_FIX_LINE = ('write one JSON object a line: {"prompt": "...", "response": "...", "answer": "...", "expected": 1} '
             "(expected 1 or 0; extra_info, data_source, id and note optional)")


@dataclass(frozen=True)
class Case:
    line: int
    prompt: str
    response: str
    answer: str
    expected: int
    extra_info: Any = None
    data_source: str | None = None
    name: str | None = None

    @property
    def title(self) -> str:
        return f"line {self.line}" + (f" ({self.name})" if self.name else "")

    @property
    def item(self) -> tuple:
        return (self.response, self.answer, self.prompt, self.extra_info, self.data_source)


def cases_path(cfg, base_dir: Path) -> Path | None:
    name = getattr(cfg.task, "verifier_cases", None)
    return None if not name else (Path(base_dir) / name).resolve()


def _case(obj: Any, line: int, path: Path) -> Case:
    def bad(problem: str) -> ConfigError:
        return ConfigError(path, [Issue(KEY, f"line {line}: {problem}", _FIX_LINE, line)])

    if not isinstance(obj, dict):
        raise bad(f"a {type(obj).__name__}, not a JSON object")
    for field in ("prompt", "response", "answer"):
        if not isinstance(obj.get(field), str):
            raise bad(f"{field!r} is {'missing' if field not in obj else 'not a string'}")
    expected = obj.get("expected")
    if expected not in (0, 1) or isinstance(expected, float):
        raise bad(f"'expected' is {json.dumps(expected) if 'expected' in obj else 'missing'}; it must be 1 or 0")
    source = obj.get("data_source")
    name = obj.get("id") or obj.get("note")
    return Case(line, obj["prompt"], obj["response"], obj["answer"], int(expected), obj.get("extra_info"),
                source if isinstance(source, str) else None, str(name)[:80] if name else None)


def load_cases(path: Path) -> list[Case]:
    """The cases of a JSONL file; a ConfigError names a malformed line, or a missing file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [Issue(KEY, f"the cases file {path} does not exist",
                                       "add a case to it (Add as Verifier Case on a sample in the editor), or remove task.verifier_cases")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [Issue(KEY, f"cannot read {path} ({type(exc).__name__}: {exc})", "make it a UTF-8 JSONL file")]) from None
    cases = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(path, [Issue(KEY, f"line {number} is not valid JSON ({exc.msg} at column {exc.colno})", _FIX_LINE, number)]) from None
        cases.append(_case(obj, number, path))
    return cases


def misses(cases: list[Case], runner) -> list[tuple[Case, Any]]:
    """(case, verdict) of every case whose verdict's label is not the expected one."""
    verdicts = runner.verify([c.item for c in cases])
    return [(c, v) for c, v in zip(cases, verdicts) if v.label != c.expected]


def describe(case: Case, verdict) -> str:
    why = verdict.error or verdict.detail
    return (f"{case.title}: expected {case.expected}, got {verdict.label} ({why}) for response "
            f"{_brief(case.response)} and answer {_brief(case.answer)}")


def _brief(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def check_cases(cfg, base_dir: Path, *, spec: str | None = None) -> int:
    """Runs the config's cases with its verifier (or `spec`); raises ConfigError listing the misses.
    Returns how many cases passed (0 without task.verifier_cases)."""
    from pacslab.verifiers import VerifierRunner

    path = cases_path(cfg, base_dir)
    if path is None:
        return 0
    cases = load_cases(path)
    spec = spec or cfg.task.verifier
    try:
        runner = VerifierRunner(spec, base_dir=str(base_dir), timeout_s=cfg.task.verifier_timeout_s,
                                workers=cfg.task.verifier_workers)
    except ValueError as exc:
        raise ConfigError(None, [Issue("task.verifier", str(exc), "fix task.verifier")]) from None
    with runner:
        failed = misses(cases, runner)
    if failed:
        fix = (f"fix the verifier {spec!r}, or correct a case's expected label in {path}; "
               "`python -m pacslab train --skip-verifier-cases` launches anyway")
        raise ConfigError(path, [Issue(KEY, f"the verifier misses case {describe(c, v)}", fix, c.line) for c, v in failed])
    return len(cases)


def main(argv: list[str] | None = None) -> int:
    from pacslab.config import load_config

    parser = argparse.ArgumentParser(prog="python -m pacslab verify-cases",
                                     description="run a config's verifier on its task.verifier_cases; exit 1 on any miss")
    parser.add_argument("config", type=Path, help="the *.pacs.yaml file")
    parser.add_argument("--verifier", help="check this verifier spec instead of the config's task.verifier")
    args = parser.parse_args(argv)
    base_dir = args.config.resolve().parent
    try:
        cfg = load_config(args.config)
        if cases_path(cfg, base_dir) is None:
            print(f"{args.config}: task.verifier_cases is not set; set it to a JSONL file of cases beside the config", file=sys.stderr)
            return 2
        passed = check_cases(cfg, base_dir, spec=args.verifier)
    except ConfigError as exc:
        missed = [i for i in exc.issues if i.problem.startswith("the verifier misses case")]
        print(str(exc), file=sys.stderr)
        return 1 if missed and len(missed) == len(exc.issues) else 2
    print(f"all {passed} verifier cases pass ({args.verifier or cfg.task.verifier})")
    return 0
