"""verl's `trainer.rollout_data_dir` (and `validation_data_dir`): one `<step>.jsonl` per step, one
line per sample with `input`, `output`, `score`, `step`, `gts` (newer verl) and the reward
function's extra fields (RayPPOTrainer._dump_generations). Each becomes that step's rollouts, and
the step's reward/mean and reward/std come from the scores."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from pacslab.importers.common import ImportError_, ImportedRun, finite, number_groups, plain_json, read_text, run_name

DUMP = re.compile(r"^(\d+)\.jsonl$")
KNOWN = {"input", "output", "gts", "score", "step"}


def _dump_files(path: Path) -> list[tuple[int, Path]]:
    return sorted((int(m.group(1)), f) for f in path.iterdir() if (m := DUMP.match(f.name)))


def is_verl_dump(path: Path) -> bool:
    return bool(_dump_files(path))


def read_verl_dump(path: Path) -> ImportedRun:
    run = ImportedRun(source_path=path, trainer="verl", name=run_name(path.name))
    for step, file in _dump_files(path):
        records = [_record(file, n, line, step) for n, line in enumerate(read_text(file).splitlines(), 1) if line.strip()]
        run.rollouts[step] = number_groups(records)  # verl samples each prompt rollout.n times
        scores = [r["reward"] for r in records if r["reward"] is not None]
        if scores:
            run.add(run.metrics, step, "reward/mean", statistics.fmean(scores))
            run.add(run.metrics, step, "reward/std", statistics.pstdev(scores))
        run.times[step] = file.stat().st_mtime
    return run


def _record(file: Path, n: int, line: str, step: int) -> dict:
    try:
        row = plain_json(json.loads(line), f"{file} line {n}")
    except json.JSONDecodeError as exc:
        raise ImportError_(f"{file} line {n}: not valid JSON ({exc.msg}); verl writes one JSON object a line") from exc
    except RecursionError:
        raise ImportError_(f"{file} line {n}: nested too deeply to be a verl sample") from None
    if not isinstance(row, dict) or not isinstance(row.get("input"), str) or not isinstance(row.get("output"), str):
        field = "input" if not isinstance(row, dict) or not isinstance(row.get("input"), str) else "output"
        raise ImportError_(f"{file} line {n}: field `{field}` is not a string; verl's rollout dump writes string `input` and `output` fields")
    record = {"step": step, "prompt": row["input"], "response": row["output"], "reward": finite(row.get("score"))}
    if "gts" in row:
        record["answer"] = row["gts"] if isinstance(row["gts"], str) else json.dumps(row["gts"], ensure_ascii=False)
    extra = {k: v for k, v in row.items() if k not in KNOWN}
    if extra:
        record["extra"] = extra
    return record
