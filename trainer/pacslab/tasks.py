"""Tasks: the built-in arithmetic generator, examples from local data files (read by data_files.py:
JSONL natively; JSON, Parquet, CSV and `save_to_disk` folders through Hugging Face `datasets`), chat
rendering and a resumable prompt sampler.

Every loader returns a list of `Example`; a plain prompt has the config's template applied
already, a chat prompt keeps its messages until `encode_examples` renders them with the tokenizer's
chat template. Errors a user can fix are `DataError`s naming the file, the line or row, the config
key and the fix.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pacslab.data_files import MISSING, DataError, Row, data_sources, field_at, present, read_rows
from pacslab.verifiers import takes_keyword

ARITH_OPS = ("+", "-", "*")
SPLITS = ("train", "eval")
# One problem in EVAL_SHARE of the space belongs to the held-out split, decided by a seeded
# hash of the problem, so the splits are disjoint whatever sizes are asked for.
EVAL_SHARE = 5
# Below this many problems the split is enumerated; above it, sampled with rejection.
ENUMERATE_LIMIT = 200_000


@dataclass(frozen=True)
class Example:
    """One prompt and its reference answer. `messages` holds a chat prompt (None for a plain one),
    `prompt_ids` its tokens once `encode_examples` ran, `where` the file and row it came from."""

    id: str
    prompt: str
    answer: str
    messages: tuple | None = None
    data_source: str | None = None
    extra_info: Any = None
    where: str = ""
    prompt_ids: tuple[int, ...] | None = None


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




# --- examples from files (data_files.py reads them) -----------------------------------------


# The longest prompt text taken: far beyond any real prompt, short of exhausting memory.
MAX_PROMPT_CHARS = 1_000_000


def load_examples(task_cfg: Any, split: str, *, base_dir: Path) -> list[Example]:
    """The examples of `split` ("train" or "eval") for a task config (attribute access, as in the
    `task:` section of a *.pacs.yaml); relative file paths resolve against `base_dir`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    if task_cfg.type == "arith":
        arith = task_cfg.arith
        n = arith.train_size if split == "train" else arith.eval_size
        examples = arith_examples(digits=arith.digits, ops=list(arith.ops), n=n, seed=arith.seed, split=split)
        texts = [_apply_template(task_cfg.template, e.prompt, {}, Row(Path("task.arith"), None, i)) for i, e in enumerate(examples)]
        return [Example(e.id, text, e.answer, messages=_wrap(task_cfg, text)) for e, text in zip(examples, texts)]
    key = "task.train_file" if split == "train" else "task.eval_file"
    name = task_cfg.train_file if split == "train" else task_cfg.eval_file
    if not name:
        raise DataError(None, key, f"task.type {task_cfg.type} needs a {split} file, and {key} is not set",
                        f"set {key} to a file, glob or folder relative to the config file")
    return load_file_examples(task_cfg, name, task_cfg.type, key=key, split=split, base_dir=base_dir)


def load_file_examples(task_cfg: Any, spec: str, data_type: str, *, key: str, split: str, base_dir: Path,
                       id_prefix: str | None = None) -> list[Example]:
    """The examples in the files `spec` names, read as `data_type` with the task's field paths."""
    prefix = id_prefix or split
    several = len(data_sources(spec, data_type, key=key, base_dir=base_dir)) > 1
    examples = []
    for row, record in read_rows(spec, data_type, key=key, base_dir=base_dir, split=split):
        number = row.line if row.line is not None else row.row
        default_id = f"{prefix}-{row.file.stem}-{number}" if several else f"{prefix}-{number}"
        examples.append(_to_example(task_cfg, row, record, default_id))
    if not examples:
        raise DataError(None, key, f"{spec} holds no examples", "add at least one record")
    return examples


def _required(task_cfg: Any, row: Row, record: dict, key: str) -> Any:
    path = getattr(task_cfg, key.removeprefix("task."))
    value = field_at(record, path)
    if value is MISSING or value is None:
        raise DataError(row.file, key, f"{row.text} (the first that lacks it) has no field {path!r}; {present(record, path)}",
                        f"set {key} to the dotted path of the field, or add it to every row", row.line)
    return value


def _optional(task_cfg: Any, record: dict, name: str) -> Any:
    path = getattr(task_cfg, name, None)
    value = field_at(record, path) if path else None
    return None if value is MISSING else value


def _answer_text(answer: Any, row: Row) -> str:
    """The reference answer as the text verifiers compare (docs/data.md, "Answers"): a string as it
    is, a number as its decimal text (42, 0.5); anything else is refused by row, since turning a
    list or an object into text would make every reward 0 without a word."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, (int, float)) and not isinstance(answer, bool) and math.isfinite(answer):
        return str(answer)
    if hasattr(answer, "item") and not hasattr(answer, "__len__"):  # a numpy scalar from Parquet
        return _answer_text(answer.item(), row)
    raise DataError(row.file, "task.answer_field", f"{row.text}: the answer is {_short_repr(answer)} ({type(answer).__name__}), not text or a number",
                    "give each row a text answer (for several accepted answers, a python: verifier can read them from task.extra_info_field), "
                    "or point task.answer_field at a text field", row.line)


def _to_example(task_cfg: Any, row: Row, record: dict, default_id: str) -> Example:
    prompt = _required(task_cfg, row, record, "task.prompt_field")
    answer = _answer_text(_required(task_cfg, row, record, "task.answer_field"), row)
    if isinstance(prompt, str) and len(prompt) > MAX_PROMPT_CHARS:
        raise DataError(row.file, "task.prompt_field", f"{row.text}: the prompt has {len(prompt):,} characters, more than the {MAX_PROMPT_CHARS:,} PACS Lab takes",
                        "shorten the prompt; rollout.max_prompt_tokens leaves out prompts longer than a model can use", row.line)
    example_id = str(_required(task_cfg, row, record, "task.id_field")) if task_cfg.id_field else default_id
    source = _optional(task_cfg, record, "data_source_field")
    extra = _optional(task_cfg, record, "extra_info_field")
    common = {"data_source": None if source is None else str(source), "extra_info": extra, "where": row.place}
    if isinstance(prompt, str):
        if getattr(task_cfg, "system_prompt", None) and not getattr(task_cfg, "chat", False):
            raise DataError(row.file, "task.system_prompt", f"{row.text}: the prompt is a plain string, and a system prompt needs chat messages",
                            "set task.chat: true to wrap each prompt as a user message, or remove task.system_prompt", row.line)
        text = _apply_template(task_cfg.template, prompt, record, row)
        return Example(example_id, text, str(answer), messages=_wrap(task_cfg, text), **common)
    messages = _messages(prompt, row, task_cfg)
    if task_cfg.template != "{prompt}":
        raise DataError(row.file, "task.template", f"{row.text}: the prompt is a list of chat messages, which takes no template",
                        "remove task.template (the chat template renders the messages), or give plain-string prompts", row.line)
    messages = _with_system(task_cfg, messages)
    return Example(example_id, messages[-1]["content"], str(answer), messages=messages, **common)


def _messages(prompt: Any, row: Row, task_cfg: Any) -> tuple:
    """A message-list prompt as a tuple of {role, content} dicts, checked."""
    fix = "give the prompt as a string or as a list of {role, content} messages whose role and content are strings"
    if not isinstance(prompt, (list, tuple)) or not prompt:
        raise DataError(row.file, "task.prompt_field", f"{row.text}: the prompt at {task_cfg.prompt_field!r} is a {type(prompt).__name__}", fix, row.line)
    out = []
    for i, message in enumerate(prompt):
        if not (isinstance(message, dict) and isinstance(message.get("role"), str) and isinstance(message.get("content"), str)):
            raise DataError(row.file, "task.prompt_field", f"{row.text}: message {i} of the prompt is not a {{role, content}} pair of strings ({_short_repr(message)})",
                            fix, row.line)
        out.append({"role": message["role"], "content": message["content"]})
    return tuple(out)


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wrap(task_cfg: Any, text: str) -> tuple | None:
    """A plain-string prompt as chat messages when task.chat asks, else None (tokenized as it is)."""
    if not getattr(task_cfg, "chat", False):
        return None
    return _with_system(task_cfg, ({"role": "user", "content": text},))


def _with_system(task_cfg: Any, messages: tuple) -> tuple:
    system = getattr(task_cfg, "system_prompt", None)
    if not system or messages[0]["role"] == "system":
        return messages
    return ({"role": "system", "content": system}, *messages)


def _apply_template(template: str, prompt: str, record: dict, row: Row) -> str:
    """`template` with {prompt} and the record's other fields filled in."""
    try:
        return template.format(**{**record, "prompt": prompt})
    except (KeyError, IndexError, ValueError) as err:
        raise DataError(row.file, "task.template", f"{row.text}: {template!r} cannot be filled ({type(err).__name__}: {err})",
                        "use {prompt} or a field of the record, and double braces for literal ones", row.line) from None


# --- tokens -----------------------------------------------------------------------------------


def encode_examples(examples: list[Example], tokenizer, task_cfg: Any, *, model_dir: Path | str) -> list[Example]:
    """The examples with `prompt_ids` set: chat prompts rendered by the tokenizer's chat template
    (add_generation_prompt=True), their `prompt` the rendered text; plain prompts tokenized as they are."""
    out = []
    for e in examples:
        if e.messages is None:
            out.append(replace(e, prompt_ids=tuple(tokenizer(e.prompt)["input_ids"])))
            continue
        if not getattr(tokenizer, "chat_template", None):
            key = "task.chat" if task_cfg.chat else "task.prompt_field"
            raise DataError(Path(model_dir) / "tokenizer_config.json", key,
                            f"the prompts are chat messages ({e.where or 'task.chat: true'}), but this tokenizer has no chat template",
                            "use a model whose tokenizer_config.json or chat_template.jinja has one, or give plain-string prompts with task.chat: false")
        messages = [dict(m) for m in e.messages]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        out.append(replace(e, prompt=text, prompt_ids=tuple(ids)))
    return out


def drop_long_prompts(examples: list[Example], limit: int | None) -> tuple[list[Example], list[Example]]:
    """(kept, dropped): the examples whose prompt has at most `limit` tokens, and the others."""
    if limit is None:
        return examples, []
    kept = [e for e in examples if len(e.prompt_ids) <= limit]
    return kept, [e for e in examples if len(e.prompt_ids) > limit]


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


# --- verifying --------------------------------------------------------------------------------


def verify(verifier, response: str, example: Example):
    """`verifier(response, answer, prompt)`, with the row's extra_info and data_source as keywords
    when the verifier takes them (every loaded verifier and VerifierRunner does)."""
    extra = {name: value for name, value in (("extra_info", example.extra_info), ("data_source", example.data_source))
             if value is not None and takes_keyword(verifier, name)}
    return verifier(response, example.answer, example.prompt, **extra)


def verify_items(examples: list[Example], responses: list[str], indices: list[int]) -> list[tuple]:
    """The VerifierRunner items for `responses`, response i answering examples[indices[i]]."""
    return [(text, examples[g].answer, examples[g].prompt, examples[g].extra_info, examples[g].data_source)
            for text, g in zip(responses, indices)]
