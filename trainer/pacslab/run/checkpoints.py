"""A run's checkpoints: `checkpoints/step-NNNNNN/` folders, built in a temporary folder and
renamed, and `checkpoints/latest`, updated only after the rename. A folder counts as a checkpoint
only when it is a real folder named step-N holding its marker file as a regular file."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from pacslab.run.safe_files import TMP_MARK, is_real_dir, is_regular_file, read_run_file, run_subdir, write_atomic

TRAINER_STATE = "trainer_state.pt"


def step_name(step: int) -> str:
    return f"step-{step:06d}"


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def write_checkpoint(run_dir: Path, step: int, save: Any) -> str:
    """Calls `save(tmp_dir)`, then renames tmp_dir to checkpoints/step-NNNNNN and updates `latest`.

    Writing the same step twice replaces the older copy only once the new one is complete.
    """
    root = run_subdir(run_dir, "checkpoints")
    final = root / step_name(step)
    tmp = root / f".{step_name(step)}{TMP_MARK}{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save(tmp)
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():
        old = root / f".{step_name(step)}.old-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    write_atomic(root / "latest", step_name(step) + "\n")
    return f"checkpoints/{step_name(step)}"


_STEP_NAME = re.compile(r"step-\d{6,}")


def _complete(folder: Path, marker: str = TRAINER_STATE) -> bool:
    """A checkpoint folder of this run: named step-N, a real folder, its `marker` a regular file."""
    return bool(_STEP_NAME.fullmatch(folder.name)) and is_real_dir(folder) and is_regular_file(folder / marker)


def latest_checkpoint(run_dir: Path) -> Path | None:
    root = checkpoints_dir(run_dir)
    if not is_real_dir(root):
        return None
    try:
        name = read_run_file(root / "latest").decode("utf-8", "replace").strip()
    except OSError:
        name = ""
    # `latest` names a folder beside it (step-N), never a path: `../../other/checkpoints/step-N` is not followed
    if _STEP_NAME.fullmatch(name) and _complete(root / name):
        return root / name
    # `latest` missing or pointing at a removed folder: fall back to the newest complete one
    complete = sorted(p for p in root.glob("step-*") if _complete(p))
    return complete[-1] if complete else None


def prune_checkpoints(run_dir: Path, keep: int) -> list[str]:
    """Removes all but the newest `keep` checkpoints, never the one `latest` names; returns the removed names."""
    root = checkpoints_dir(run_dir)
    if not is_real_dir(root):
        return []
    try:
        latest = read_run_file(root / "latest").decode("utf-8", "replace").strip()
    except OSError:
        latest = ""
    folders = sorted(p for p in root.glob("step-*") if _STEP_NAME.fullmatch(p.name) and is_real_dir(p))
    removed = [p for p in folders[: max(0, len(folders) - keep)] if p.name != latest]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in removed]


def checkpoint_for_step(run_dir: Path, step: int) -> Path | None:
    root = checkpoints_dir(run_dir)
    path = root / step_name(step)
    # a whole model (config.json), or the LoRA adapter of a model.lora run (adapter_config.json)
    return path if is_real_dir(root) and (_complete(path, "config.json") or _complete(path, "adapter_config.json")) else None
