"""Held-out evaluation: greedy accuracy and unbiased pass@k of every eval set, also per data source.

Sampling draws from its own generator seeded by (run seed, step), so an evaluation neither
consumes nor depends on the training random state: a resumed run evaluates exactly as an
uninterrupted one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from pacslab.config import Config
from pacslab.data_files import DataError
from pacslab.metrics import pass_at_k
from pacslab.rollout import generate_rollouts
from pacslab.tasks import Example, load_examples, load_file_examples, verify


@dataclass(frozen=True)
class EvalSet:
    """One held-out set with its settings resolved. `name` None is the task's own held-out split,
    logged as eval/accuracy; a named set logs eval/<name>/accuracy."""

    name: str | None
    examples: list[Example]
    size: int | None
    samples: int
    k: list[int]
    temperature: float
    top_p: float
    max_new_tokens: int
    batch_prompts: int

    @property
    def prefix(self) -> str:
        return "eval/" if self.name is None else f"eval/{self.name}/"


def load_eval_sets(cfg: Config, *, base_dir: Path) -> list[EvalSet]:
    """The task's held-out split (when it has one) and every set of eval.sets, examples not yet encoded."""
    e = cfg.eval
    common = {"size": e.size, "samples": e.samples, "k": list(e.k), "temperature": e.temperature, "top_p": e.top_p,
              "max_new_tokens": cfg.rollout.max_new_tokens, "batch_prompts": e.batch_prompts}
    sets = []
    if cfg.task.type == "arith" or cfg.task.eval_file:
        examples = load_examples(cfg.task, "eval", base_dir=base_dir)
        source_names(examples, key="task.data_source_field")
        sets.append(EvalSet(None, examples, **common))
    for i, s in enumerate(e.sets):
        examples = load_file_examples(cfg.task, s.file, s.type or cfg.task.type, key=f"eval.sets.{i}.file", split="eval",
                                      base_dir=base_dir, id_prefix=s.name)
        source_names(examples, key="task.data_source_field")
        own = {k: v for k, v in s.model_dump().items() if k in common and v is not None}
        sets.append(EvalSet(s.name, examples, **{**common, **own}))
    return sets


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def source_metric_name(source: str) -> str:
    """A data source as it appears in a metric name: every character but ASCII letters, digits, `_`,
    `.` and `-` becomes `_` (what TensorBoard and W&B keep as they are; `/` would nest).

    >>> source_metric_name("lighteval/MATH-500"), source_metric_name("AIME 2024"), source_metric_name("")
    ('lighteval_MATH-500', 'AIME_2024', '_')
    """
    return _UNSAFE.sub("_", source) or "_"


def source_names(examples: list[Example], *, key: str) -> dict[str, str]:
    """Each data source of a set's examples → its metric name (source_metric_name), in first-seen
    order; a DataError when two sources would share one name, as their values would be mixed."""
    names: dict[str, str] = {}
    first: dict[str, Example] = {}
    for e in examples:
        if e.data_source is None or e.data_source in names:
            continue
        name = source_metric_name(e.data_source)
        other = next((s for s, n in names.items() if n == name), None)
        if other is not None:
            raise DataError(None, key,
                            f"the data sources {other!r} ({first[other].where}) and {e.data_source!r} ({e.where}) both "
                            f"become {name!r} in metric names (source={name}), so their held-out values would be mixed",
                            "rename one of them in the data (each data source's metric name keeps A-Z, a-z, 0-9, _, . "
                            "and -, and turns every other character into _)")
        names[e.data_source] = name
        first[e.data_source] = e
    return names


def eval_generator(device: torch.device, seed: int, step: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + step + 7919)


def chunk_generator(device: torch.device, seed: int, step: int, set_index: int, chunk: int) -> torch.Generator:
    """The generator of one generation batch of one set: its samples do not depend on which
    process draws them, nor on what was drawn before (engine: trl shares the chunks out)."""
    digest = hashlib.blake2b(f"eval {seed} {step} {set_index} {chunk}".encode(), digest_size=8).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest, "little") >> 1)


def one_generator(generator: torch.Generator | None) -> Callable[[int, int], torch.Generator | None]:
    """Every generation batch drawing from `generator` in turn: a 1-process evaluation (the native
    engine, `pacslab eval`)."""
    return lambda _set, _chunk: generator


def evaluate_sets(model, tokenizer, sets: list[EvalSet], verifier, *, generators: Callable[[int, int], torch.Generator | None],
                  rank: int = 0, world: int = 1, gather: Callable[[list], list[list]] = lambda mine: [mine],
                  examples: list[dict] | None = None) -> dict[str, float]:
    """The values of every set (summarize): the one evaluation of every engine. The generation
    batches of all sets, in order, are dealt to `world` processes, this one scoring every `world`-th
    from `rank` on with `generators(set index, batch index)`; `gather` gives every process's part
    (under engine: trl an all_gather, which every rank must join), and every process gets the values
    (and each example's result appended to `examples`)."""
    work = [(i, c, chunk) for i, s in enumerate(sets) for c, chunk in enumerate(chunks(s))]
    mine = [(i, c, [row[1:] for row in score_chunk(model, tokenizer, sets[i], chunk, verifier, generator=generators(i, c))])
            for i, c, chunk in work[rank::world]]
    done = {(i, c): rows for part in gather(mine) for i, c, rows in part}
    values: dict[str, float] = {}
    for i, s in enumerate(sets):
        scores = [(example, *done[(j, c)][r]) for j, c, chunk in work if j == i for r, example in enumerate(chunk)]
        values.update(summarize(s, scores))
        if examples is not None:
            examples.extend(example_rows(s, scores))
    return values


def example_rows(eval_set: EvalSet, scores: list[tuple]) -> list[dict]:
    """One row of heldout/step-N.jsonl per scored example (docs/run-format.md): with the prompt, the
    answer, each sample's label and the set's k, so `verify --eval` can re-verify it."""
    return [{"set": eval_set.name, "id": e.id, "data_source": e.data_source, "greedy_correct": bool(label),
             "correct": detail["correct"], "samples": eval_set.samples, "greedy": detail["greedy"],
             "responses": detail["responses"], "labels": detail["labels"], "k": list(eval_set.k), "prompt": e.prompt,
             "answer": e.answer, **({"extra_info": e.extra_info} if e.extra_info is not None else {})}
            for e, label, _passes, detail in scores]


def chunks(eval_set: EvalSet) -> list[list[Example]]:
    """The set's evaluated examples in generation batches of `batch_prompts`."""
    s = eval_set
    examples = s.examples[: s.size] if s.size else s.examples
    if not examples:
        where = "task.arith.eval_size or task.eval_file" if s.name is None else f"the file of eval set {s.name!r}"
        raise ValueError(f"the held-out set {s.name or 'eval'} is empty; add rows ({where})")
    return [examples[start : start + s.batch_prompts] for start in range(0, len(examples), s.batch_prompts)]


def score_chunk(model, tokenizer, eval_set: EvalSet, chunk: list[Example], verifier, *,
                generator: torch.Generator) -> list[tuple[Example, int, list[float], dict]]:
    """(example, greedy label, pass@k for every k, detail) of each example of one generation batch;
    `detail` holds the greedy response, the sampled responses, their labels and how many were correct."""
    s, m = eval_set, eval_set.samples
    prompts = [e.prompt_ids if e.prompt_ids is not None else e.prompt for e in chunk]
    greedy = generate_rollouts(model, tokenizer, prompts, n=1, max_new_tokens=s.max_new_tokens, temperature=1.0,
                               top_p=1.0, generator=None, greedy=True)
    sampled = generate_rollouts(model, tokenizer, prompts, n=m, max_new_tokens=s.max_new_tokens,
                                temperature=s.temperature, top_p=s.top_p, generator=generator)
    scores = []
    for g, example in enumerate(chunk):
        responses = sampled.response_texts[g * m : (g + 1) * m]
        labels = [_label(verifier, r, example) for r in responses]
        c = sum(labels)
        detail = {"greedy": greedy.response_texts[g], "responses": list(responses), "labels": labels, "correct": c}
        scores.append((example, _label(verifier, greedy.response_texts[g], example), [pass_at_k(m, c, k) for k in s.k],
                       detail))
    return scores


def summarize(eval_set: EvalSet, scores: list[tuple]) -> dict[str, float]:
    """`<prefix>accuracy` (greedy) and `<prefix>pass@k` for every k over the scored examples, and,
    when they come from more than one data source (rows without one count as one more), the same
    for each source's examples: `<prefix>source=<name>/accuracy`, name as source_metric_name."""
    s = eval_set
    values = _summary(s.prefix, s.k, scores)
    if len({row[0].data_source for row in scores}) < 2:
        return values
    for source, name in sorted(source_names([row[0] for row in scores], key="task.data_source_field").items()):
        mine = [row for row in scores if row[0].data_source == source]
        values.update(_summary(f"{s.prefix}source={name}/", s.k, mine))
    return values


def _summary(prefix: str, ks: list[int], scores: list[tuple]) -> dict[str, float]:
    values = {f"{prefix}accuracy": sum(row[1] for row in scores) / len(scores)}
    values.update({f"{prefix}pass@{k}": sum(row[2][i] for row in scores) / len(scores) for i, k in enumerate(ks)})
    return values


def _label(verifier, response: str, example: Example) -> int:
    return int(verify(verifier, response, example).label)


def encoded(sets: list[EvalSet], encode) -> list[EvalSet]:
    """The sets with their examples passed through `encode` (tasks.encode_examples with a tokenizer)."""
    return [replace(s, examples=encode(s.examples)) for s in sets]
