"""Bounded, validated reading of run files (docs/run-format.md, "A run folder is untrusted data").

A run folder may come from anywhere, so every reader here caps how much it reads (per file and per
line), how deeply a value may nest, and which numbers it takes (NaN, Infinity and 1e999 are not
JSON numbers a run file holds), and checks run.json's documented fields with pydantic: a wrong-typed
field makes that one run unreadable, with the field named, never the whole listing fail.
The caps are the same as the extension's (src/core/boundedJson.ts).
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Callable, Iterator, Optional, Union

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

MAX_DEPTH = 64
MAX_LINE_BYTES = 8 * 1024 * 1024
MAX_INFO_BYTES = 4 * 1024 * 1024
MAX_SMALL_FILE_BYTES = 1024 * 1024
# an exported tokenizer.json (real ones are a few MB to a few tens of MB)
MAX_TOKENIZER_BYTES = 128 * 1024 * 1024
MAX_SEQ = 2**31 - 1
CHUNK_BYTES = 1 << 20
SNIPPET_CHARS = 120


class UnsafeJson(ValueError):
    """Run-file text that is not JSON a reader takes: invalid, too deep, too large, non-finite numbers."""


def _no_constant(name: str) -> Any:
    raise UnsafeJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeJson(f"{text[:40]} is out of range for a number")
    return value


def _too_deep(value: Any, max_depth: int) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth + 1 > max_depth:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def loads(data: Union[bytes, str], *, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads of untrusted text: UnsafeJson for invalid JSON, nesting deeper than `max_depth`
    (a value deep enough to exhaust the parser's recursion included), NaN, Infinity or 1e999."""
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise UnsafeJson(f"nested deeper than {max_depth} levels of arrays and objects") from None
    except UnsafeJson:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise UnsafeJson(str(exc)) from None
    if _too_deep(value, max_depth):
        raise UnsafeJson(f"nested deeper than {max_depth} levels of arrays and objects")
    return value


def is_valid_seq(value: Any) -> bool:
    """A control seq: an integer (not a bool, a string or a float) from 1 to MAX_SEQ."""
    return type(value) is int and 1 <= value <= MAX_SEQ


# ---------------------------------------------------------------- lines


class BoundedLines:
    """Complete lines of an append-only file from a byte offset, at most `max_line` bytes each: a
    longer line is read past as it arrives (never held whole), reported once as a bad line, and
    its bytes are never read again (`offset` moves past them)."""

    def __init__(self, max_line: int = MAX_LINE_BYTES, offset: int = 0):
        self.max_line = max_line
        self.offset = offset
        self.line_no = 0
        self._skipping = False
        self._skip_head = b""

    def read(self, fd: int) -> Iterator[tuple[int, Optional[bytes], str]]:
        """Yields (line number, line or None when too long, snippet) for each complete line after `offset`."""
        pending = bytearray()
        position = self.offset
        while True:
            chunk = os.pread(fd, CHUNK_BYTES, position)
            if not chunk:
                break
            start = 0
            while True:
                nl = chunk.find(b"\n", start)
                if nl < 0:
                    break
                piece = chunk[start:nl]
                self.line_no += 1
                if self._skipping:
                    self._skipping = False
                    yield self.line_no, None, _snippet(self._skip_head)
                elif len(pending) + len(piece) > self.max_line:
                    yield self.line_no, None, _snippet(bytes(pending[:SNIPPET_CHARS * 4]) or piece)
                else:
                    yield self.line_no, bytes(pending) + piece, ""
                pending.clear()
                start = nl + 1
                self.offset = position + start
            rest = chunk[start:]
            position += len(chunk)
            if self._skipping:
                self.offset = position
            elif len(pending) + len(rest) > self.max_line:
                self._skipping = True
                self._skip_head = bytes(pending[:SNIPPET_CHARS * 4]) or rest[:SNIPPET_CHARS * 4]
                pending.clear()
                self.offset = position
            else:
                pending += rest


def _snippet(data: bytes) -> str:
    return data[: SNIPPET_CHARS * 4].decode("utf-8", "replace")[:SNIPPET_CHARS]


def iter_json_lines(fd: int, reader: BoundedLines) -> Iterator[tuple[int, Any, Optional[str]]]:
    """(line number, value, None) for each good line; (line number, None, why) for each bad one."""
    for line_no, line, snippet in reader.read(fd):
        if line is None:
            yield line_no, None, f"line longer than {reader.max_line} bytes, skipped ({snippet!r}...)"
            continue
        if not line.strip():
            continue
        try:
            yield line_no, loads(line), None
        except UnsafeJson as exc:
            yield line_no, None, f"{exc} ({_snippet(line)!r})"


# ---------------------------------------------------------------- terminal text

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def terminal_text(value: Any) -> str:
    """Text from a run folder made safe to print: control characters (ANSI and OSC escapes, carriage
    returns, bidirectional overrides) written as visible escapes such as \\u001b."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", str(value))


def print_listing(items: list[dict], *, as_json: bool, empty: str, header: str, row: Callable[[dict], None]) -> int:
    """What a `status` command prints of runs or sweeps: `items` as JSON (json.dumps escapes control
    characters itself), else `empty` when there are none, else `header` and `row(item)` for each
    (which prints the item's line with its text through terminal_text). Returns the exit code, 0."""
    if as_json:
        print(json.dumps(items, indent=2))
    elif not items:
        print(empty)
    else:
        print(header)
        for item in items:
            row(item)
    return 0


# ---------------------------------------------------------------- run.json


class _Strict(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class GitInfo(_Strict):
    commit: Optional[StrictStr] = None
    branch: Optional[StrictStr] = None
    remote: Optional[StrictStr] = None
    dirty: Optional[StrictBool] = None
    snapshot: Optional[StrictStr] = None
    ref: Optional[StrictStr] = None


class RunError(_Strict):
    message: StrictStr
    traceback: Optional[StrictStr] = None


Number = Union[StrictInt, StrictFloat]


class RunJson(_Strict):
    """run.json's documented fields and their types; every one may be missing, others are kept."""

    format: Optional[Number] = None
    id: Optional[StrictStr] = None
    name: Optional[StrictStr] = None
    algorithm: Optional[StrictStr] = None
    loss_metric: Optional[StrictStr] = None
    status: Optional[StrictStr] = None
    pid: Optional[StrictInt] = None
    pid_start_time: Optional[Union[StrictStr, Number]] = None
    host: Optional[StrictStr] = None
    created_at: Optional[StrictStr] = None
    updated_at: Optional[StrictStr] = None
    step: Optional[Number] = None
    total_steps: Optional[Number] = None
    config_path: Optional[StrictStr] = None
    config_dir: Optional[StrictStr] = None
    seed: Optional[Number] = None
    heartbeat_s: Optional[Number] = None
    git: Optional[GitInfo] = None
    versions: Optional[dict[StrictStr, Union[StrictStr, Number, StrictBool, None]]] = None
    error: Optional[RunError] = None


def run_json_problem(data: Any) -> Optional[str]:
    """Why run.json's content breaks its documented types (naming the field), or None."""
    if not isinstance(data, dict):
        return "does not hold a JSON object"
    try:
        RunJson.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"] if not re.fullmatch(r"(str|int|float|bool|none)(-\w+)?|function-\w+", str(p)))
        shown = json.dumps(first.get("input"))[:40] if first.get("input") is not None else "null"
        return f'has "{field or "(the whole file)"}" = {shown}: {first["msg"].lower()} (docs/run-format.md)'
    return None
