"""Tasks: the built-in arithmetic generator, JSONL/Parquet loaders and a resumable prompt sampler.

Every loader returns a list of `Example(id, prompt, answer)`; the prompt has the config's
template applied already. Errors a user can fix name the file, the line (JSONL) and the config key.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARITH_OPS = ("+", "-", "*")
SPLITS = ("train", "eval")
# One problem in EVAL_SHARE of the space belongs to the held-out split, decided by a seeded
# hash of the problem, so the splits are disjoint whatever sizes are asked for.
EVAL_SHARE = 5
# Below this many problems the split is enumerated; above it, sampled with rejection.
ENUMERATE_LIMIT = 200_000


@dataclass(frozen=True)
class Example:
    id: str
    prompt: str
    answer: str


# --- arithmetic -------------------------------------------------------------------------------


def arith_examples(*, digits: int, ops: list[str], n: int, seed: int, split: str) -> list[Example]:
    """Distinct problems `a<op>b=` whose operands have exactly `digits` digits (0-9 for one
    digit), answer the exact result. Fixed-width operands keep the columns of every problem
    aligned, and answers are zero-padded to the widest result of their operator (digits+1 for
    +, digits for -, 2*digits for *), so each answer digit sits at a fixed distance from the
    operand digits it depends on: a small character-level model learns that far faster than
    ragged layouts.

    The split a problem falls in depends only on (seed, problem), so "train" and "eval" never
    share a problem. `n` is capped at the number of distinct problems the split holds.
    Subtraction puts the larger operand first, so answers are never negative.

    >>> [e.prompt + e.answer for e in arith_examples(digits=1, ops=["+"], n=3, seed=0, split="eval")]
    ['1+3=04', '2+0=02', '5+1=06']
    """
    _check_arith_args(digits, ops, n, split)
    rng = random.Random(f"arith:{seed}:{split}")
    low, high = (0 if digits == 1 else 10 ** (digits - 1)), 10**digits
    space = (high - low) ** 2 * len(ops)
    if space <= ENUMERATE_LIMIT:
        problems = [p for p in _all_problems(low, high, ops) if _in_split(p, seed, split)]
        rng.shuffle(problems)
        problems = problems[:n]
    else:
        problems = _sample_problems(rng, low, high, ops, n, seed, split)
    width = {"+": digits + 1, "-": digits, "*": 2 * digits}
    return [Example(f"{split}-{i:05d}", f"{a}{op}{b}=", str(_apply(a, op, b)).zfill(width[op])) for i, (a, op, b) in enumerate(problems)]


def _check_arith_args(digits: int, ops: list[str], n: int, split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    if not 1 <= digits <= 9:
        raise ValueError(f"task.arith.digits is {digits}: use a value from 1 to 9")
    if not ops or any(op not in ARITH_OPS for op in ops):
        raise ValueError(f"task.arith.ops is {ops!r}: use a non-empty list drawn from {list(ARITH_OPS)}")
    if n < 0:
        raise ValueError(f"the number of {split} examples is {n}: use 0 or more")


def _all_problems(low: int, high: int, ops: list[str]):
    for op in ops:
        for a in range(low, high):
            for b in range(low, high):
                if op != "-" or a >= b:
                    yield (a, op, b)


def _sample_problems(rng: random.Random, low: int, high: int, ops: list[str], n: int, seed: int, split: str):
    seen: set[tuple[int, str, int]] = set()
    problems = []
    while len(problems) < n:
        a, op, b = rng.randrange(low, high), rng.choice(ops), rng.randrange(low, high)
        if op == "-" and a < b:
            a, b = b, a
        problem = (a, op, b)
        if problem in seen or not _in_split(problem, seed, split):
            continue
        seen.add(problem)
        problems.append(problem)
    return problems


def _in_split(problem: tuple[int, str, int], seed: int, split: str) -> bool:
    a, op, b = problem
    digest = hashlib.blake2b(f"{seed}:{a}{op}{b}".encode(), digest_size=8).digest()
    is_eval = int.from_bytes(digest, "little") % EVAL_SHARE == 0
    return is_eval == (split == "eval")


def _apply(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


# --- files ------------------------------------------------------------------------------------


def load_examples(task_cfg: Any, split: str, *, base_dir: Path) -> list[Example]:
    """The examples of `split` ("train" or "eval") for a task config (attribute access, as in the
    `task:` section of a *.pacs.yaml); relative file paths resolve against `base_dir`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    if task_cfg.type == "arith":
        arith = task_cfg.arith
        n = arith.train_size if split == "train" else arith.eval_size
        examples = arith_examples(digits=arith.digits, ops=list(arith.ops), n=n, seed=arith.seed, split=split)
        return [Example(e.id, _apply_template(task_cfg.template, e.prompt, {}, "task.arith"), e.answer) for e in examples]
    if task_cfg.type not in ("jsonl", "parquet"):
        raise ValueError(f"task.type is {task_cfg.type!r}: use arith, jsonl or parquet")
    key = "task.train_file" if split == "train" else "task.eval_file"
    name = task_cfg.train_file if split == "train" else task_cfg.eval_file
    if not name:
        raise ValueError(f"{key} is not set: task.type {task_cfg.type} needs a {split} file; set {key} to a path relative to the config file")
    path = Path(name) if Path(name).is_absolute() else Path(base_dir) / name
    if not path.is_file():
        raise ValueError(f"{key}: file not found: {path}; fix the path (relative paths resolve against {base_dir})")
    records = _read_jsonl(path) if task_cfg.type == "jsonl" else _read_parquet(path)
    examples = [_to_example(task_cfg, split, path, where, record) for where, record in records]
    if not examples:
        raise ValueError(f"{key}: {path} holds no examples; add at least one record")
    return examples


def _read_jsonl(path: Path):
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg} at column {err.colno}); fix or remove the line") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object per line, got {type(record).__name__}; write one object per line")
            yield f"{path}:{lineno}", record


def _read_parquet(path: Path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(f"{path}: reading Parquet needs pyarrow; pip install pyarrow, or convert the file to JSONL and set task.type: jsonl") from None
    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as err:  # pyarrow raises several types for unreadable files
        raise ValueError(f"{path}: not a readable Parquet file ({err}); check the file or set task.type to match it") from None
    for row, record in enumerate(rows):
        yield f"{path} row {row}", record


def _to_example(task_cfg: Any, split: str, path: Path, where: str, record: dict) -> Example:
    fields = {"task.prompt_field": task_cfg.prompt_field, "task.answer_field": task_cfg.answer_field}
    if task_cfg.id_field:
        fields["task.id_field"] = task_cfg.id_field
    for key, field in fields.items():
        if field not in record:
            known = ", ".join(sorted(map(str, record))) or "none"
            raise ValueError(f"{where}: no field {field!r} (set by {key}); fields present: {known}; set {key} to one of them")
    line_id = where.rsplit(":", 1)[-1] if ":" in where else where.rsplit(" ", 1)[-1]
    example_id = str(record[task_cfg.id_field]) if task_cfg.id_field else f"{split}-{line_id}"
    prompt = _apply_template(task_cfg.template, str(record[task_cfg.prompt_field]), record, where)
    return Example(example_id, prompt, str(record[task_cfg.answer_field]))


def _apply_template(template: str, prompt: str, record: dict, where: str) -> str:
    """`template` with {prompt} and the record's other fields filled in."""
    try:
        return template.format(**{**record, "prompt": prompt})
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"{where}: task.template {template!r} cannot be filled ({type(err).__name__}: {err}); use {{prompt}} or a field of the record, and double braces for literal ones") from None


# --- sampling ---------------------------------------------------------------------------------


class PromptSampler:
    """Batches of examples without replacement, reshuffled every epoch, resumable.

    Epoch e's order is a permutation drawn from `Random(f"{seed}:{e}")`, so the state is just
    (epoch, position): a sampler restored from `state_dict()` continues exactly where it stopped.
    """

    def __init__(self, examples: list[Example], batch_size: int, seed: int):
        if not examples:
            raise ValueError("no training examples to sample from; check task.train_file or task.arith.train_size")
        if batch_size < 1:
            raise ValueError(f"batch size is {batch_size}: use 1 or more (rollout.prompts_per_step)")
        self.examples = examples
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.position = 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> list[int]:
        order = list(range(len(self.examples)))
        random.Random(f"{self.seed}:{epoch}").shuffle(order)
        return order

    def next_batch(self) -> list[Example]:
        batch = []
        while len(batch) < self.batch_size:
            if self.position == len(self._order):
                self.epoch += 1
                self.position = 0
                self._order = self._permutation(self.epoch)
            take = min(self.batch_size - len(batch), len(self._order) - self.position)
            batch.extend(self.examples[i] for i in self._order[self.position : self.position + take])
            self.position += take
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "size": len(self.examples)}

    def load_state_dict(self, state: dict) -> None:
        if state["seed"] != self.seed or state["size"] != len(self.examples):
            raise ValueError(
                f"the saved sampler state is for seed {state['seed']} over {state['size']} examples, "
                f"but this run has seed {self.seed} over {len(self.examples)}; resume with the run's own config"
            )
        self.epoch = state["epoch"]
        self.position = state["position"]
        self._order = self._permutation(self.epoch)
