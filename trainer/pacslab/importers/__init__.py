"""Import runs written by other trainers (TensorBoard logs, TRL output, verl rollout dumps) as run
directories (docs/run-format.md, format 2), so PACS Lab charts and inspects them beside its own.

The source is only read, never modified; every import makes a new run directory and none is ever
overwritten. Metric names are mapped to ours where the meaning is the same (docs/interop.md).
"""

from __future__ import annotations

from pathlib import Path

from pacslab.importers.common import ImportError_, ImportedRun, already_imported, write_run
from pacslab.importers.tensorboard import event_dirs, read_tensorboard
from pacslab.importers.trl import is_trl_output, read_trl
from pacslab.importers.verl import is_verl_dump, read_verl_dump

__all__ = ["ImportError_", "ImportedRun", "import_path", "read_source"]


def read_source(path: Path) -> list[ImportedRun]:
    """The runs a folder holds: a TRL output directory, a verl rollout dump, or TensorBoard log
    folders (each folder with event files is one run)."""
    path = Path(path)
    if not path.is_dir() or path.is_symlink():
        raise ImportError_(f"{path} is not a folder; pass a TensorBoard log directory, a TRL output directory or a verl rollout_data_dir")
    if is_trl_output(path):
        return [read_trl(path)]
    if is_verl_dump(path):
        return [read_verl_dump(path)]
    folders = event_dirs(path)
    if folders:
        return [read_tensorboard(folder, root=path) for folder in folders]
    raise ImportError_(f"{path} holds no TensorBoard event files (events.out.tfevents.*), no TRL trainer_state.json "
                       "and no verl rollout dump (<step>.jsonl files); pass the folder that holds one of them")


def import_path(path: Path, runs_root: Path, *, name: str | None = None) -> list[Path]:
    """Writes one new run directory under `runs_root` per run found in `path`; returns their folders.
    A source already imported into `runs_root` is refused (its run is named), never written twice."""
    runs = read_source(Path(path))
    for run in runs:
        earlier = already_imported(runs_root, run.source_path)
        if earlier is not None:
            raise ImportError_(f"{run.source_path} is already imported as {earlier}; delete that run to import it again")
    return [write_run(run, runs_root, name=name if len(runs) == 1 else None) for run in runs]
