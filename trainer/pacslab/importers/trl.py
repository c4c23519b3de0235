"""A TRL output directory: trainer_state.json's log history (at the top, or in the newest
checkpoint-N/), checkpoint-N/ folders (listed, left where they are), completions/*.parquet
(GRPOTrainer with log_completions) as rollouts, and the step times of its TensorBoard log when
it has one (runs/)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pacslab.importers.common import ImportError_, ImportedRun, finite, number_groups, plain_json, read_text, regular_file, run_name
from pacslab.importers.names import our_name
from pacslab.importers.tensorboard import event_dirs, scalars

STATE = "trainer_state.json"
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
COMPLETIONS = re.compile(r"^completions_(\d+)\.parquet$")


def _checkpoints(path: Path) -> list[tuple[int, Path]]:
    found = []
    for child in path.iterdir():
        match = CHECKPOINT.match(child.name)
        if match and child.is_dir() and not child.is_symlink():
            found.append((int(match.group(1)), child))
    return sorted(found)


def _state_file(path: Path) -> Path | None:
    if (path / STATE).exists():
        return path / STATE
    with_state = [c / STATE for _, c in _checkpoints(path) if (c / STATE).exists()]
    return with_state[-1] if with_state else None


def is_trl_output(path: Path) -> bool:
    return _state_file(path) is not None


def read_trl(path: Path) -> ImportedRun:
    state_path = _state_file(path)
    assert state_path is not None
    try:
        state = json.loads(read_text(state_path))
    except json.JSONDecodeError as exc:
        raise ImportError_(f"{state_path} line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    except RecursionError:
        raise ImportError_(f"{state_path}: nested too deeply to be a Trainer's state") from None
    history = state.get("log_history") if isinstance(state, dict) else None
    if not isinstance(history, list):
        raise ImportError_(f"{state_path} has no log_history list; is it a transformers Trainer's trainer_state.json?")
    run = ImportedRun(source_path=path, trainer="trl", name=run_name(path.name), loss_metric="loss",
                      total_steps=state.get("max_steps") if type(state.get("max_steps")) is int else None)
    reward_funcs: list[str] = []
    for i, entry in enumerate(history):
        # a bool is an int to Python: `"step": true` is no step
        if not isinstance(entry, dict) or type(entry.get("step")) is not int:
            raise ImportError_(f"{state_path}: log_history[{i}].step is {json.dumps(entry.get('step') if isinstance(entry, dict) else entry)[:40]}, "
                               "not a whole number; the file is not a Trainer's state")
        step = entry["step"]
        for key, value in entry.items():
            if key == "step" or finite(value) is None and value is not None:
                continue
            name, is_eval = our_name("trl", key)
            run.add(run.evals if is_eval else run.metrics, step, name, value)
            match = re.fullmatch(r"rewards/(.+)/mean", key)
            if match and match.group(1) not in reward_funcs:
                reward_funcs.append(match.group(1))
    for folder in event_dirs(path):
        for _tag, step, wall, _value in scalars(folder):
            run.times[step] = max(run.times.get(step, wall), wall)
    run.checkpoints = [{"step": step, "path": str(folder.resolve())} for step, folder in _checkpoints(path)]
    completions = path / "completions"
    if completions.is_dir() and not completions.is_symlink():
        for file in sorted(completions.iterdir()):
            match = COMPLETIONS.match(file.name)
            if match:
                run.rollouts[int(match.group(1))] = _completions(regular_file(file), int(match.group(1)), reward_funcs)
    return run


def _text(value) -> str:
    """A prompt or completion as text: conversational ones (lists of messages) as `role: content` lines."""
    if isinstance(value, str):
        return value
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        return "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _completions(file: Path, step: int, reward_funcs: list[str]) -> list[dict]:
    """GRPOTrainer's table of one step (columns step, prompt, completion, one per reward function,
    extra columns, advantage) as rollout records; the reward is the reward functions' sum."""
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(file).to_pylist()
    except Exception as exc:  # noqa: BLE001 - say which file
        raise ImportError_(f"{file} is not a readable Parquet file ({type(exc).__name__}: {exc})") from exc
    records = []
    for row in rows:
        for column in ("prompt", "completion"):
            if column not in row:
                raise ImportError_(f"{file} has no `{column}` column; is it a GRPOTrainer completions table?")
        rewards = {f: finite(row.get(f)) for f in reward_funcs if f in row}
        known = [v for v in rewards.values() if v is not None]
        record = {"step": step, "prompt": _text(row["prompt"]), "response": _text(row["completion"]),
                  "reward": sum(known) if known else None, "rewards": rewards,
                  "advantage": finite(row.get("advantage"))}
        extra = {k: v for k, v in row.items() if k not in {"step", "prompt", "completion", "advantage", *rewards}}
        if extra:
            record["extra"] = json.loads(json.dumps(extra, default=str))
        records.append(plain_json(record, f"{file} row {len(records) + 1}"))
    return number_groups(records)
