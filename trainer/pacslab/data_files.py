"""Reading data files: the files a `task.*_file` names (a file, a glob, a folder or a
`save_to_disk` folder), their records one by one (JSONL natively; JSON, Parquet, CSV and saved
datasets through Hugging Face `datasets`), and the field at a dotted path of a record.

Never reaches the network. Errors a user can fix are `DataError`s naming the file, the line or row,
the config key and the fix.
"""

from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pacslab.config.errors import ConfigError, Issue


class DataError(ConfigError, ValueError):
    """A data file that cannot be used: names the file, the line or row, the config key and the fix.
    A `ConfigError`, so the command line reports it as one (exit 2, no traceback)."""

    def __init__(self, file: str | Path | None, key: str, problem: str, fix: str, line: int | None = None):
        super().__init__(file, [Issue(key, problem, fix, line)])


# The file extensions each task.type reads from a folder or a glob.
EXTENSIONS = {"jsonl": (".jsonl",), "json": (".json", ".jsonl"), "parquet": (".parquet",), "csv": (".csv",)}
SAVED_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
MISSING = object()


@dataclass(frozen=True)
class Row:
    """Where a record came from, for messages: the file and its 1-based line (JSONL) or 0-based row."""

    file: Path
    line: int | None
    row: int

    @property
    def text(self) -> str:
        return "this line" if self.line is not None else f"row {self.row}"

    @property
    def place(self) -> str:
        """The file and the line or row, for a message that names no line of its own."""
        return f"{self.file} line {self.line}" if self.line is not None else f"{self.file} row {self.row}"


def data_sources(spec: str, data_type: str, *, key: str, base_dir: Path) -> list[Path]:
    """The files (or one `save_to_disk` folder) that `spec` names: a file, a glob or a folder.
    Never reaches the network: a Hugging Face Hub name gets an error that says how to fetch it."""
    path = Path(spec).expanduser()
    path = path if path.is_absolute() else Path(base_dir) / path
    if any(c in spec for c in "*?["):
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not found:
            raise DataError(None, key, f"no file matches the glob {path}", "fix the pattern (relative paths are relative to the config file)")
        return found
    if path.is_dir():
        if data_type == "dataset" or any((path / m).is_file() for m in SAVED_MARKERS):
            if not any((path / m).is_file() for m in SAVED_MARKERS):
                raise DataError(None, key, f"{path} is not a folder written by save_to_disk (it has no dataset_info.json or dataset_dict.json)",
                                "point at the folder save_to_disk wrote, or set the type of its files (jsonl, json, parquet, csv)")
            return [path]
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(EXTENSIONS[data_type]))
        if not found:
            raise DataError(None, key, f"the folder {path} holds no {'/'.join(EXTENSIONS[data_type])} file",
                            "put the data files there, or set the type that matches them")
        return found
    if path.is_file():
        if data_type == "dataset":
            raise DataError(None, key, f"{path} is a file, but type dataset reads a folder written by save_to_disk",
                            f"set the type of the file ({', '.join(EXTENSIONS)})")
        return [path]
    if _HUB_NAME.fullmatch(spec) and not Path(spec).suffix:
        raise DataError(None, key, f"{spec!r} is neither a file nor a folder here; it looks like a Hugging Face Hub dataset, and PACS Lab never downloads",
                        f"download it where there is network (`huggingface-cli download {spec} --repo-type dataset --local-dir data/{spec.split('/')[1]}`, "
                        f"or datasets.load_dataset({spec!r}).save_to_disk(...)) and point {key} at that folder")
    raise DataError(None, key, f"file not found: {path}", "fix the path (relative paths are relative to the config file)")


# The longest data row read (a JSON line): far beyond any real prompt, short of exhausting memory
# (a 1 GiB single-line prompt grew the trainer past 9 GB).
MAX_ROW_BYTES = 16 * 1024 * 1024


def _read_jsonl(path: Path, key: str):
    with path.open("rb") as f:
        row = 0
        for lineno, line in enumerate(iter(lambda: f.readline(MAX_ROW_BYTES + 1), b""), start=1):
            if len(line) > MAX_ROW_BYTES:
                raise DataError(path, key, f"the line is longer than {MAX_ROW_BYTES // (1024 * 1024)} MiB, far more than a prompt and answer",
                                "shorten or remove the line (keep long documents out of the prompt)", lineno)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(path, key, f"not valid JSON ({err.msg} at column {err.colno})", "fix or remove the line", lineno) from None
            except UnicodeDecodeError as err:
                raise DataError(path, key, f"not UTF-8 text ({err.reason} at byte {err.start})", "save the file as UTF-8", lineno) from None
            except RecursionError:
                raise DataError(path, key, "the JSON is nested too deeply", "fix or remove the line", lineno) from None
            if not isinstance(record, dict):
                raise DataError(path, key, f"expected a JSON object per line, got {type(record).__name__}", "write one object per line", lineno)
            yield Row(path, lineno, row), record
            row += 1


def _read_with_datasets(path: Path, data_type: str, key: str, split: str):
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import datasets
    except ImportError:
        raise DataError(path, key, "reading this type needs the `datasets` package", "pip install -r trainer/requirements.txt") from None
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:
        if data_type == "dataset":
            table = datasets.load_from_disk(str(path))
        else:
            table = datasets.load_dataset(data_type, data_files=[str(path)], split="train")
    except Exception as err:  # noqa: BLE001 - datasets and pyarrow raise many types for unreadable files
        raise DataError(path, key, f"not readable as {data_type} ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})",
                        "check the file, or set the type that matches it") from None
    if isinstance(table, datasets.DatasetDict):
        table = _pick_split(table, path, key, split)
    for row, record in enumerate(table):
        yield Row(path, None, row), record


def _pick_split(table, path: Path, key: str, split: str):
    wanted = ("train",) if split == "train" else ("test", "validation", "eval")
    for name in wanted:
        if name in table:
            return table[name]
    raise DataError(path, key, f"the saved DatasetDict has the splits {', '.join(table)}, none of them {' or '.join(wanted)}",
                    f"point {key} at the split's own folder ({path}/<split>)")


def read_rows(spec: str, data_type: str, *, key: str, base_dir: Path, split: str):
    """(Row, record) for every record of the files `spec` names, file by file in sorted order."""
    for path in data_sources(spec, data_type, key=key, base_dir=base_dir):
        if data_type == "jsonl" or (data_type == "json" and path.suffix == ".jsonl"):
            yield from _read_jsonl(path, key)
        else:
            yield from _read_with_datasets(path, data_type, key, split)


def field_at(record: Any, path: str) -> Any:
    """The value at a dotted path (`reward_model.ground_truth`; a number indexes a list), or
    `MISSING`. A key that itself holds dots is found before the path is split.

    >>> field_at({"reward_model": {"ground_truth": "4"}}, "reward_model.ground_truth")
    '4'
    """
    if isinstance(record, dict) and path in record:
        return record[path]
    node = record
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def present(record: Any, path: str) -> str:
    """The keys found along `path` where it stops, for a message about a missing field."""
    node, walked = record, []
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node or node[part] is None:
            break
        node, walked = node[part], walked + [part]
    # a column another row has reads as None in a table (Parquet, CSV): not present either
    keys = ", ".join(sorted(str(k) for k, v in node.items() if v is not None)) if isinstance(node, dict) else f"a {type(node).__name__}"
    return f"{'.'.join(walked) or 'the row'} has {keys or 'no fields'}"
