"""Rollout records: one step's samples as `rollouts/step-NNNNNN.parquet` (docs/run-format.md).

Parquet through pyarrow, one row per sample, brotli-compressed, in small pages (PAGE_BYTES) with a
page index, so a reader fetches one sample's token details from the pages that hold it, without the
rest of the step; a step is one row group (up to ROW_GROUP samples), so the light columns (ids,
texts, reward, critic fields: what a list, its filters and sorts need) are a few reads. The token
details are three columns a reader touches only for a sample it shows:

- `token_lengths` list<int32>: each token's length in characters (Unicode code points), so token
  k is `text[sum(lengths[:k]) : sum(lengths[:k+1])]`;
- `token_text` string: the tokens joined, null when that is the response itself (the usual case);
- `token_logratio` list<float16>: β·(log π − log π_old) per token, null on a step without the
  critic pass.

`response_preview` (string, the response's first PREVIEW_CHARS code points) is written beside
`response` so that a reader opens a step without decoding every whole response (a step of long
reasoning holds megabytes of them): the extension's list shows the preview and reads `response`
only for the sample it shows, or whole when its text filter needs it. It is no record key: a
reader that does not know it (this module's own) leaves it out.

A record key that is not a column of every record of the step (imported fields, TRL's `advantage`
or reward functions, a key only some records have) goes into the row's `extra` JSON object, so a
round trip gives back every key, absent keys staying absent. `verifier` is JSON text.
`write_step(..., jsonl=True)` keeps today's JSONL file (`logging.rollouts_jsonl`).
"""

from __future__ import annotations

import io
import json
import math
from itertools import accumulate, chain
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pacslab.run import files as runio

ROW_GROUP = 4096
PAGE_BYTES = 16 << 10
# the writer ends a page only between batches of this many values: at pyarrow's default (1,024) one
# page held a whole step's responses, and showing one long sample decoded all of them (73 ms, 5 ms at 16)
WRITE_BATCH = 16
# brotli: as small as zstd here, and native in the extension's Node (zlib); see docs/run-format.md
COMPRESSION = "brotli"
COMPRESSION_LEVEL = 3
# known light columns: (key, arrow type)
LIGHT = (
    ("step", pa.int32()), ("group", pa.int32()), ("index", pa.int32()), ("prompt_id", pa.string()),
    ("prompt", pa.string()), ("response", pa.string()), ("answer", pa.string()), ("reward", pa.float64()),
    ("logratio", pa.float64()), ("psi", pa.float64()), ("p_correct", pa.float64()), ("grad_weight", pa.float64()),
    ("weight", pa.float64()), ("length", pa.int32()), ("truncated", pa.bool_()),
)
TOKEN_COLUMNS = ("token_lengths", "token_text", "token_logratio")
# the extension's list shows at most 400 characters of a response (webview/rollouts/main.ts)
PREVIEW_CHARS = 400
PREVIEW_COLUMN = "response_preview"
SUFFIXES = (".parquet", ".jsonl")


class RecordsError(ValueError):
    """A rollout file that cannot be read, naming the file."""


def file_name(step: int, *, jsonl: bool = False) -> str:
    return f"rollouts/{runio.step_name(step)}{'.jsonl' if jsonl else '.parquet'}"


def write_step(run_dir: Path, step: int, records: list[dict], *, jsonl: bool = False) -> str:
    """Writes the step's records (whole, through a temporary name) and returns the file's path
    relative to the run. Every engine writes through here (runio.write_rollouts)."""
    runio.run_subdir(run_dir, "rollouts")
    rel = file_name(step, jsonl=jsonl)
    if jsonl:
        body = "".join(json.dumps(_plain(r), ensure_ascii=False, allow_nan=False) + "\n" for r in records)
        runio.write_atomic(Path(run_dir) / rel, body, durable=False)
    else:
        runio.write_atomic(Path(run_dir) / rel, to_parquet(records), durable=False)
    return rel


def _plain(record: dict) -> dict:
    """A record for JSON: numpy token log-ratios as a list."""
    values = record.get("token_logratio")
    if isinstance(values, np.ndarray):
        return {**record, "token_logratio": values.astype(np.float64).tolist()}
    return record


def to_parquet(records: list[dict]) -> bytes:
    return encode(to_table(records))


def encode(table: pa.Table, *, write_batch: int = WRITE_BATCH) -> bytes:
    """The Parquet bytes of a step's table, as write_step writes them (bench/extension_scale
    writes a step as it was written before WRITE_BATCH with pyarrow's default, 1,024)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=ROW_GROUP, compression=COMPRESSION,
                   compression_level=COMPRESSION_LEVEL, use_dictionary=["prompt", "prompt_id", "answer", "verifier"],
                   column_encoding={"token_logratio": "BYTE_STREAM_SPLIT"}, write_statistics=False,
                   store_schema=False, write_page_index=True, data_page_size=PAGE_BYTES, write_batch_size=write_batch)
    return sink.getvalue()


def to_table(records: list[dict]) -> pa.Table:
    rows = len(records)
    columns: dict[str, pa.Array] = {}
    shared = set(records[0]) if records else set()
    for r in records[1:]:
        shared &= r.keys()
    for key, kind in LIGHT:
        if key in shared:
            columns[key] = pa.array([_light(r[key]) for r in records], type=kind)
    if "verifier" in shared:
        columns["verifier"] = pa.array([None if r["verifier"] is None else json.dumps(r["verifier"], ensure_ascii=False)
                                        for r in records], type=pa.string())
    if "tokens" in shared:
        columns.update(_token_columns(records))
    stored = {key for key in columns} | ({"tokens", "token_logratio"} if "tokens" in shared else set())
    extras = [{k: v for k, v in r.items() if k not in stored} for r in records]
    if any(extras):
        columns["extra"] = pa.array([json.dumps(e, ensure_ascii=False, allow_nan=False) if e else None for e in extras],
                                    type=pa.string())
    if "response" in columns:  # after the extras: a record's own `response_preview` key stays a key, in `extra`
        columns[PREVIEW_COLUMN] = pc.utf8_slice_codeunits(columns["response"], 0, PREVIEW_CHARS)
    return pa.table(columns) if columns else pa.table({"step": pa.nulls(rows, pa.int32())})


def _light(value):
    # NaN or inf never reach a record (the trainer writes null); a non-finite float is kept null
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _token_columns(records: list[dict]) -> dict[str, pa.Array]:
    tokens = [r["tokens"] for r in records]
    counts = np.fromiter((len(t) for t in tokens), dtype=np.int32, count=len(tokens))
    offsets = pa.array(np.concatenate(([0], np.cumsum(counts))).astype(np.int32))
    lengths = np.fromiter(map(len, chain.from_iterable(tokens)), dtype=np.int32, count=int(counts.sum()))
    out = {
        "token_lengths": pa.ListArray.from_arrays(offsets, pa.array(lengths)),
        "token_text": pa.array([None if "".join(t) == r.get("response") else "".join(t)
                                for t, r in zip(tokens, records)], type=pa.string()),
    }
    if any("token_logratio" in r for r in records):
        values = [r.get("token_logratio") for r in records]
        for r, v in zip(records, values):
            if v is not None and len(v) != len(r["tokens"]):
                raise ValueError(f"a record of group {r.get('group')} index {r.get('index')} has {len(v)} "
                                 f"token log-ratios for {len(r['tokens'])} tokens")
        flat = np.concatenate([np.asarray(v, dtype=np.float16) for v in values if v is not None] or
                              [np.zeros(0, np.float16)])
        mask = np.array([v is None for v in values])
        if mask.any():  # a null row spans no values
            offsets = pa.array(np.concatenate(([0], np.cumsum(np.where(mask, 0, counts)))).astype(np.int32))
        out["token_logratio"] = pa.ListArray.from_arrays(offsets, pa.array(flat, type=pa.float16()),
                                                         mask=pa.array(mask) if mask.any() else None)
    return out


# ---------------------------------------------------------------- reading


def step_file(run_dir: Path, step: int) -> Path | None:
    """The step's rollout file (Parquet before JSONL), or None when it has none."""
    for jsonl in (False, True):
        path = Path(run_dir) / file_name(step, jsonl=jsonl)
        if runio.is_regular_file(path) or path.is_symlink():
            return path
    return None


def read_step(run_dir: Path, step: int) -> tuple[list[dict], int]:
    """(records, bad lines) of a step, either format; ([], 0) when the step has no file."""
    path = step_file(run_dir, step)
    if path is None:
        return [], 0
    return read_file(path)


def read_file(path: Path) -> tuple[list[dict], int]:
    if path.suffix == ".jsonl":
        return runio.read_jsonl(path)
    data = runio.read_run_file(path)
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise RecordsError(f"{path}: not a readable rollout file ({exc}); delete it or write the step again") from None
    return from_table(table), 0


def from_table(table: pa.Table) -> list[dict]:
    names = set(table.column_names)
    rows = table.num_rows
    light = {key: table.column(key).to_pylist() for key, _ in LIGHT if key in names}
    verifier = table.column("verifier").to_pylist() if "verifier" in names else None
    extra = table.column("extra").to_pylist() if "extra" in names else [None] * rows
    tokens = _read_tokens(table, light.get("response")) if "token_lengths" in names else None
    out = []
    for i in range(rows):
        record = {key: values[i] for key, values in light.items()}
        if verifier is not None:
            record["verifier"] = None if verifier[i] is None else json.loads(verifier[i])
        if tokens is not None:
            record.update(tokens[i])
        if extra[i]:
            record.update(json.loads(extra[i]))
        out.append(record)
    return out


def _read_tokens(table: pa.Table, responses: list | None) -> list[dict]:
    lengths = table.column("token_lengths").to_pylist()
    texts = table.column("token_text").to_pylist()
    ratios = table.column("token_logratio").to_pylist() if "token_logratio" in table.column_names else None
    out = []
    for i, (ls, text) in enumerate(zip(lengths, texts)):
        text = text if text is not None else (responses[i] if responses else "")
        ends = list(accumulate(ls))
        detail = {"tokens": [text[a:b] for a, b in zip([0, *ends[:-1]], ends)]}
        if ratios is not None and ratios[i] is not None:
            detail["token_logratio"] = [float(x) for x in ratios[i]]
        out.append(detail)
    return out


# ---------------------------------------------------------------- python -m pacslab rollouts


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m pacslab rollouts",
                                description="Print one step's rollout records (either format).")
    p.add_argument("run", type=Path, help="the run folder")
    p.add_argument("--step", type=int, required=True, help="the training step")
    p.add_argument("--jsonl", action="store_true",
                   help="one JSON object a sample, as a JSONL rollout file holds it (default: one summary line a sample)")
    args = p.parse_args(argv)
    path = step_file(args.run, args.step)
    if path is None:
        print(f"error: {args.run / file_name(args.step)}: no rollout file for step {args.step}; "
              "pick a step whose rollouts were logged (logging.rollouts_every)", file=sys.stderr)
        return 2
    try:
        records, bad = read_file(path)
    except (RecordsError, runio.UnsafeRunPath) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout
    for r in records:
        if args.jsonl:
            out.write(json.dumps(_plain(r), ensure_ascii=False) + "\n")
        else:
            text = str(r.get("response", "")).replace("\n", " ")
            out.write(f"{r.get('group')}:{r.get('index')}\tR={r.get('reward')}\tpsi={r.get('psi')}\t"
                      f"len={r.get('length')}\t{text[:60]}\n")
    if bad:
        print(f"warning: {path}: skipped {bad} lines that are not JSON", file=sys.stderr)
    return 0
