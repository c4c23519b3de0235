"""The `task:` section of a config: where prompts and answers come from (the built-in arithmetic
generator or local data files, and the fields of a row) and how a response is verified."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pacslab.config.base import Float, Int, Section as _Section

VERIFIER_SPEC = r"^(exact|math|(python|verl|trl):([A-Za-z_][\w.]*|[^:]+\.py):[A-Za-z_]\w*)$"


class ArithConfig(_Section):
    digits: Int = Field(3, ge=1, le=9, description="Digits per operand of the generated problems.")
    ops: list[Literal["+", "-", "*"]] = Field(
        ["+"], min_length=1, description="Operators to draw problems from."
    )
    train_size: Int = Field(20000, ge=1, description="Number of generated training problems.")
    eval_size: Int = Field(200, ge=1, description="Number of generated held-out problems.")
    seed: Int = Field(1234, description="Seed of the problem generator (independent of the run seed).")


DATA_TYPES = ("jsonl", "json", "parquet", "csv", "dataset")
DataType = Literal["jsonl", "json", "parquet", "csv", "dataset"]
FIELD_PATH = r"^[^.\s][^\s]*$"


class TaskConfig(_Section):
    type: Literal["arith", "jsonl", "json", "parquet", "csv", "dataset"] = Field(
        "arith",
        description="Where prompts come from: the built-in `arith` generator, local JSONL, JSON, Parquet or CSV "
        "files (read with Hugging Face `datasets`), or `dataset`, a folder written by `save_to_disk`. "
        "Nothing is ever downloaded.",
    )
    arith: ArithConfig = Field(
        ArithConfig(), description="Options of the built-in arithmetic task (type: arith)."
    )
    train_file: str | None = Field(
        None,
        description="Training rows: a file, a glob (`data/train-*.parquet`) or a folder (every file of the type, "
        "or a `save_to_disk` folder), relative to the config file.",
    )
    eval_file: str | None = Field(
        None,
        description="Held-out rows, as train_file; required unless eval.sets names the held-out sets. "
        "Logged as eval/accuracy and eval/pass@k.",
    )
    prompt_field: str = Field(
        "prompt",
        min_length=1,
        pattern=FIELD_PATH,
        description="Dotted path of the prompt: a string, or a list of chat messages `[{role, content}, ...]` "
        "(the verl/PACS layout), rendered with the tokenizer's chat template.",
    )
    answer_field: str = Field(
        "answer",
        min_length=1,
        pattern=FIELD_PATH,
        description="Dotted path of the reference answer, e.g. `reward_model.ground_truth`.",
    )
    id_field: str | None = Field(
        None, pattern=FIELD_PATH, description="Dotted path of a row id; null = the row number."
    )
    data_source_field: str | None = Field(
        "data_source",
        pattern=FIELD_PATH,
        description="Dotted path of the row's data source (optional in each row): evaluation also reports "
        "accuracy per source. null = none.",
    )
    extra_info_field: str | None = Field(
        "extra_info",
        pattern=FIELD_PATH,
        description="Dotted path of per-row extra information (optional in each row), passed to a "
        "verifier that takes an `extra_info` argument (verl's `compute_score` does). null = none.",
    )
    template: str = Field(
        "{prompt}",
        description="str.format template applied to each plain-string prompt (fields of the row fill other "
        "placeholders); must contain `{prompt}`. Message-list prompts take no template.",
    )
    chat: bool = Field(
        False,
        description="Wrap each plain-string prompt as one user message and render it with the chat template "
        "(message-list prompts always are).",
    )
    system_prompt: str | None = Field(
        None,
        description="A system message put before every chat prompt that has none of its own (needs chat "
        "prompts: message lists or task.chat: true).",
    )
    verifier: str = Field(
        "exact",
        pattern=VERIFIER_SPEC,
        description="How a response is checked: `exact` (normalised string or number), `math` "
        "(math-verify equivalence of the boxed or last answer), or your own function as "
        "`python:MODULE:FUNCTION` (`f(response, answer, prompt)`), `verl:MODULE:FUNCTION` (verl's "
        "`compute_score(data_source, solution_str, ground_truth, extra_info=None)`) or "
        "`trl:MODULE:FUNCTION` (a TRL reward function `f(completions, prompts, **columns)`); MODULE is "
        "importable from the config's folder, or a .py file relative to it, e.g. `python:./my_verifier.py:check`. "
        "Every form is called by its parameter names (docs/verifiers.md).",
    )
    audit_verifier: str | None = Field(
        None,
        pattern=VERIFIER_SPEC,
        description="A second checker run on every sample beside `task.verifier` (same workers and time "
        "limit), never changing the reward: the metrics `verifier/disagree_frac`, `verifier/primary_only_frac` "
        "and `verifier/audit_only_frac` and each rollout record's `audit` verdict show where the two disagree. "
        "Same forms as `task.verifier`; null = none.",
    )
    verifier_cases: str | None = Field(
        None,
        description="A JSONL file of verifier regression cases (relative to the config file), one "
        "`{prompt, response, answer, extra_info, expected}` per line: a launch checks `task.verifier` "
        "against them first and refuses to start on a miss (`python -m pacslab verify-cases CONFIG`). null = none.",
    )
    verifier_timeout_s: Float = Field(
        10.0,
        gt=0,
        le=86400,
        description="Seconds the verifier may take on one sample; a slower sample gets label 0 with "
        "the error `timed out` (`exact` runs in the trainer and is never cut off).",
    )
    verifier_workers: Int = Field(
        1,
        ge=1,
        le=256,
        description="Processes that run the verifier (`math` and `python:` verifiers run outside the "
        "trainer); more run a step's samples in parallel, with the same results in the same order.",
    )
