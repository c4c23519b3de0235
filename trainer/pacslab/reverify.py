"""`python -m pacslab verify RUN`: re-verify a run's recorded samples with a verifier as it is now.

The verifier comes from the user's workspace, never from the run folder: `--verifier SPEC` (a
relative file resolves against `--config`'s folder, else the current folder), else `--config`'s
`task.verifier`, else the config the run was launched from (run.json's `config_dir` and
`config_path`) when that file lies in the current folder's tree and outside the run folder. It
runs in the usual worker pool (`task.verifier_timeout_s`, `task.verifier_workers` of the config).

Every rollout record that carries a prompt, a response and an answer is verified again; its
recorded label is its `reward` thresholded at 0.5 (the native engine records the label itself).
The result goes to `RUN/reverify/<UTC time>.json` (run-format.md): per step, the samples whose
label flipped 0→1 (`up`) and 1→0 (`down`), each with both verdicts; the rollout files are only read.
With `--eval` the result also has `eval`, the held-out results of every evaluation re-verified
(reverify_heldout.py); the training rollouts are then re-verified too when the run recorded any.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pacslab.run import files as runio

REVERIFY_DIR = "reverify"
FORMAT = 1
TOTALS = ("samples", "checked", "up", "down")
_ROLLOUT = re.compile(r"step-(\d{6,})\.(parquet|jsonl)")


class ReverifyError(Exception):
    """Bad input for a re-verification: the message names the file or option and the fix."""


def sample_item(record: dict) -> tuple | None:
    """The VerifierRunner item of a rollout record, or None when it lacks prompt, response or answer."""
    fields = [record.get(k) for k in ("response", "answer", "prompt")]
    if not all(isinstance(v, str) for v in fields):
        return None
    source = record.get("data_source")
    return (*fields, record.get("extra_info"), source if isinstance(source, str) else None)


def recorded_label(record: dict) -> int | None:
    reward = record.get("reward")
    if isinstance(reward, bool) or not isinstance(reward, (int, float)):
        return None
    return int(reward >= 0.5)


def rollout_files(run_dir: Path, steps: tuple[int, int] | None) -> list[tuple[int, Path]]:
    """(step, file) of the run's rollout files within `steps` (inclusive), in step order."""
    from pacslab.run.records import step_file  # numpy and pyarrow: not imported by every `python -m pacslab` command

    folder = Path(run_dir) / "rollouts"
    if not runio.is_real_dir(folder):
        raise ReverifyError(f"{run_dir} has no recorded samples (no rollouts/ folder); "
                            "re-verify a run trained with logging.rollouts_every > 0, or an imported run with rollouts")
    steps_found = sorted({int(m.group(1)) for m in map(_ROLLOUT.fullmatch, (p.name for p in folder.iterdir())) if m})
    found = [(s, p) for s, p in ((s, step_file(run_dir, s)) for s in steps_found) if p is not None and runio.is_regular_file(p)]
    return within_steps(found, steps, folder, kind="rollout file", has="steps", fix="pick steps the run recorded")


def within_steps(found: list[tuple[int, Path]], steps: tuple[int, int] | None, folder: Path, *, kind: str, has: str,
                 fix: str) -> list[tuple[int, Path]]:
    """The (step, file) pairs within `steps` (inclusive); none is an error naming the steps there are."""
    chosen = [(s, p) for s, p in found if steps is None or steps[0] <= s <= steps[1]]
    if not chosen:
        within = f" within steps {steps[0]}:{steps[1]}" if steps else ""
        have = f" (it has {has} {found[0][0]} to {found[-1][0]})" if found else ""
        raise ReverifyError(f"{folder} holds no {kind}{within}{have}; {fix}")
    return chosen


def has_rollouts(run_dir: Path, steps: tuple[int, int] | None) -> bool:
    """Whether the run recorded a rollout file within `steps` (--eval re-verifies them when it did)."""
    try:
        return bool(rollout_files(run_dir, steps))
    except ReverifyError:
        return False


def check_finished(run_dir: Path) -> None:
    """Refuses a run whose trainer is still writing it (its files would change under us)."""
    info = runio.read_json(Path(run_dir) / runio.RUN_JSON)
    if info is None:
        raise ReverifyError(f"{run_dir} is not a run folder (no readable {runio.RUN_JSON}); give a run directory")
    if info.get("status") not in runio.LIVE_STATUSES:
        return
    here = info.get("host") in (None, socket.gethostname())
    if not here or not info.get("pid") or runio.process_alive(info.get("pid"), info.get("pid_start_time")):
        raise ReverifyError(f"{run_dir} is still being written (status {info.get('status')}); "
                            "re-verify it after it has finished, or stop it first")


def reverify(run_dir: Path, runner, *, steps: tuple[int, int] | None = None) -> dict:
    """The re-verification of `run_dir`'s rollouts by `runner` (a VerifierRunner), as written to reverify/."""
    from pacslab.run.records import RecordsError, read_file

    out_steps, totals = [], dict.fromkeys(TOTALS, 0)
    for step, path in rollout_files(run_dir, steps):
        try:
            records, bad = read_file(path)
        except RecordsError as exc:
            raise ReverifyError(str(exc)) from None
        usable = [(i, r, sample_item(r), recorded_label(r)) for i, r in enumerate(records)]
        usable = [(i, r, item, old) for i, r, item, old in usable if item is not None and old is not None]
        verdicts = runner.verify([item for _, _, item, _ in usable])
        up, down = [], []
        for (i, record, item, old), new in zip(usable, verdicts):
            if new.label != old:
                (up if new.label > old else down).append(_flip(i, record, item, old, new))
        out_steps.append({"step": step, "file": f"rollouts/{path.name}", "samples": len(records), "checked": len(usable),
                          "unreadable_lines": bad, "up": up, "down": down})
        for key, value in (("samples", len(records)), ("checked", len(usable)), ("up", len(up)), ("down", len(down))):
            totals[key] += value
    if not totals["checked"]:
        raise ReverifyError(f"no recorded sample of {run_dir} carries a prompt, a response, an answer and a reward; "
                            "re-verify a run whose rollout records have them (an imported run may lack the answer)")
    return {"steps": out_steps, "total": totals}


def _flip(line: int, record: dict, item: tuple, old: int, new) -> dict:
    verifier = record.get("verifier") if isinstance(record.get("verifier"), dict) else {}
    return {"line": line, "group": record.get("group"), "index": record.get("index"), "prompt_id": record.get("prompt_id"),
            "prompt": item[2], "response": item[0], "answer": item[1],
            "before": {"label": old, "reward": record.get("reward"), "detail": verifier.get("detail"), "error": verifier.get("error")},
            "after": {"label": new.label, "parsed": new.parsed, "detail": new.detail, "error": new.error}}


def write_result(run_dir: Path, result: dict) -> Path:
    """Writes `result` to a new file in `run_dir/reverify/` (its name the UTC time) and returns it."""
    folder = runio.run_subdir(Path(run_dir), REVERIFY_DIR)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"{stamp}.json"
    runio.write_json_atomic(path, result)
    return path


def parse_steps(text: str | None) -> tuple[int, int] | None:
    """`A:B` (inclusive; either side may be left out) as (A, B)."""
    if text is None:
        return None
    first, sep, last = text.partition(":")
    try:
        bounds = (int(first) if first else 0, int(last) if last else sys.maxsize) if sep else (int(first), int(first))
    except ValueError:
        raise ReverifyError(f"--steps {text!r} is not A:B; give e.g. --steps 10:20, --steps 10: or --steps 7") from None
    if bounds[0] > bounds[1]:
        raise ReverifyError(f"--steps {text!r} is empty (A > B); give A <= B")
    return bounds


def default_config(run_dir: Path) -> Path:
    """The config the run was launched from, when it lies in the current folder's tree, outside the run."""
    info = runio.read_json(Path(run_dir) / runio.RUN_JSON) or {}
    config_dir, config_path = info.get("config_dir"), info.get("config_path")
    fix = "pass --config YOUR.pacs.yaml or --verifier SPEC"
    if not isinstance(config_dir, str) or not isinstance(config_path, str):
        raise ReverifyError(f"{run_dir}/run.json names no config file it was launched from; {fix}")
    candidate = (Path(config_dir) / Path(config_path).name).resolve()
    workspace, run = Path.cwd().resolve(), Path(run_dir).resolve()
    if not candidate.is_relative_to(workspace) or candidate.is_relative_to(run):
        raise ReverifyError(f"the run was launched from {candidate}, which is not in this workspace ({workspace}); "
                            f"a verifier is never taken from outside it or from the run folder: {fix}")
    if not candidate.is_file():
        raise ReverifyError(f"the run's config {candidate} no longer exists; {fix}")
    return candidate


def resolve_runner_args(run_dir: Path, spec: str | None, config: Path | None) -> dict[str, Any]:
    """VerifierRunner keyword arguments from the options: spec, base_dir, timeout_s, workers."""
    from pacslab.config import load_config

    if spec is not None and config is None:
        return {"spec": spec, "base_dir": str(Path.cwd()), "timeout_s": 10.0, "workers": 1}
    path = config if config is not None else default_config(run_dir)
    cfg = load_config(path)  # a ConfigError names the file, key and fix
    return {"spec": spec or cfg.task.verifier, "base_dir": str(Path(path).resolve().parent),
            "timeout_s": cfg.task.verifier_timeout_s, "workers": cfg.task.verifier_workers}


def run(args: argparse.Namespace) -> int:
    from pacslab.config import ConfigError
    from pacslab.reverify_heldout import heldout_files, heldout_lines, reverify_heldout, without_flips
    from pacslab.verifiers import VerifierRunner

    run_dir = Path(args.run_dir)
    try:
        steps = parse_steps(args.steps)
        check_finished(run_dir)
        if args.eval:
            heldout_files(run_dir, steps)
        training = has_rollouts(run_dir, steps) if args.eval else bool(rollout_files(run_dir, steps))
        options = resolve_runner_args(run_dir, args.verifier, args.config)
        with VerifierRunner(**options) as runner:
            result = reverify(run_dir, runner, steps=steps) if training else {"steps": [], "total": dict.fromkeys(TOTALS, 0)}
            if args.eval:
                result["eval"] = reverify_heldout(run_dir, runner, steps=steps)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (ReverifyError, ValueError, runio.UnsafeRunPath) as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 2
    result = {"format": FORMAT, "verifier": options["spec"], "base_dir": options["base_dir"],
              "created_at": runio.utc_now(), "steps_option": args.steps, **result}
    path = write_result(run_dir, result)
    t = result["total"]
    if args.json:
        print(json.dumps({"file": str(path), "verifier": result["verifier"], "total": t,
                          **({"eval": without_flips(result["eval"])} if "eval" in result else {})}))
        return 0
    for s in result["steps"]:
        if s["up"] or s["down"]:
            print(f"step {s['step']}: {len(s['up'])} 0→1, {len(s['down'])} 1→0 of {s['checked']}")
    if "eval" in result:
        for line in heldout_lines(result["eval"]):
            print(line)
    print(f"{t['up'] + t['down']} of {t['checked']} training labels changed ({t['up']} 0→1, {t['down']} 1→0) "
          f"with {result['verifier']}; written to {path}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="re-verify a run's recorded samples with a verifier as it is now")
    p.add_argument("run_dir", type=Path, help="the run directory")
    p.add_argument("--verifier", help="the verifier spec (default: the config's task.verifier)")
    p.add_argument("--config", type=Path, help="the *.pacs.yaml whose verifier, time limit and workers to use "
                   "(default: the config the run was launched from, if in this workspace)")
    p.add_argument("--steps", help="only these steps, A:B inclusive (A: or :B open)")
    p.add_argument("--eval", action="store_true", help="also re-verify the held-out results of every evaluation (heldout/): "
                   "flips per step and eval set, accuracy and pass@k before and after")
    p.add_argument("--json", action="store_true", help="print the result file and totals as JSON")
    p.set_defaults(handler=run)
