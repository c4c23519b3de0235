"""TensorBoard log folders, read with tensorboard's own event file reader: every scalar of every
event file becomes a metric at its step (the newest value wins where a step is logged twice)."""

from __future__ import annotations

import os
from pathlib import Path

from pacslab.importers.common import ImportError_, ImportedRun, regular_file, run_name
from pacslab.importers.names import LOSS, guess_trainer, our_name

EVENT_GLOB = "events.out.tfevents.*"


def event_dirs(root: Path) -> list[Path]:
    """Every folder under `root` (itself included) holding event files, not following links."""
    return sorted(Path(folder) for folder, _dirs, files in os.walk(root, followlinks=False)
                  if any(f.startswith("events.out.tfevents.") for f in files))


def scalars(folder: Path) -> list[tuple[str, int, float, float]]:
    """(tag, step, wall time, value) of every scalar in the folder's event files, oldest file first."""
    try:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
        from tensorboard.util import tensor_util
    except ImportError as exc:
        raise ImportError_("reading TensorBoard files needs the tensorboard package: pip install 'pacslab[tensorboard]'") from exc
    rows = []
    for path in sorted(folder.glob(EVENT_GLOB)):
        scalar_tags: set[str] = set()
        try:
            for event in EventFileLoader(str(regular_file(path))).Load():
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name == "scalars":
                        scalar_tags.add(value.tag)
                    if value.HasField("simple_value"):
                        number = value.simple_value
                    elif value.tag in scalar_tags and value.HasField("tensor"):
                        array = tensor_util.make_ndarray(value.tensor)
                        if array.size != 1:
                            continue
                        number = float(array.reshape(()))
                    else:
                        continue
                    rows.append((value.tag, int(event.step), float(event.wall_time), number))
        except ImportError_:
            raise
        except Exception as exc:  # noqa: BLE001 - a corrupt record: say which file
            raise ImportError_(f"{path} is not a readable TensorBoard event file ({type(exc).__name__}: {exc})") from exc
    return rows


def read_tensorboard(folder: Path, *, root: Path, trainer: str | None = None) -> ImportedRun:
    rows = scalars(folder)
    if not rows:
        raise ImportError_(f"{folder}'s event files hold no scalars; nothing to import")
    trainer = trainer or guess_trainer({tag for tag, *_ in rows})
    label = folder.name if folder == root else str(folder.relative_to(root))
    run = ImportedRun(source_path=folder, trainer=trainer, name=run_name(label))
    for tag, step, wall, value in sorted(rows, key=lambda r: r[2]):
        name, is_eval = our_name(trainer, tag)
        run.add(run.evals if is_eval else run.metrics, step, name, value, wall)
    loss = our_name(trainer, LOSS.get(trainer, ""))[0] if trainer in LOSS else None
    run.loss_metric = loss if loss and any(loss in v for v in run.metrics.values()) else None
    return run
