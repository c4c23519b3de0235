"""What a native run reads besides its model, read and checked before any model loads: the
training prompts (tokenized), the eval sets and the verifier."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pacslab.config import Config
from pacslab.evaluate import encoded, load_eval_sets
from pacslab.models import load_tokenizer, resolve_model_path
from pacslab.data_files import DataError
from pacslab.engines import InputError  # noqa: F401 - raised here; the CLI and the loop catch it
from pacslab.tasks import Example, drop_long_prompts, encode_examples, load_examples
from pacslab.audit import Audit
from pacslab.verifiers import VerifierRunner


@dataclass
class Inputs:
    """What a run reads besides its model: the verifier, the training prompts (tokenized) and the
    eval sets; `too_long` are the training prompts left out by rollout.max_prompt_tokens."""

    verifier: VerifierRunner
    train_examples: list[Example]
    eval_sets: list
    too_long: list[Example]
    audit: Audit | None = None  # task.audit_verifier

    def close(self) -> None:
        self.verifier.close()
        if self.audit is not None:
            self.audit.close()

    def __enter__(self) -> "Inputs":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def load_inputs(cfg: Config, base_dir: Path) -> Inputs:
    """Reads and tokenizes the data (chat prompts through the chat template; prompts over
    rollout.max_prompt_tokens leave training, all of them is an error) and starts the verifier,
    before any model loads. A data problem raises DataError (a ConfigError naming the file, line,
    key and fix); a verifier that cannot start raises InputError."""
    base_dir = Path(base_dir)
    base_model = resolve_model_path(cfg.model.path, base_dir=base_dir)
    tokenizer = load_tokenizer(base_model)

    def encode(examples):
        return encode_examples(examples, tokenizer, cfg.task, model_dir=base_model)

    train = encode(load_examples(cfg.task, "train", base_dir=base_dir))
    eval_sets = encoded(load_eval_sets(cfg, base_dir=base_dir), encode)
    train_examples, too_long = drop_long_prompts(train, cfg.rollout.max_prompt_tokens)
    if not train_examples:
        shortest = min(len(e.prompt_ids) for e in too_long)
        raise DataError(None, "rollout.max_prompt_tokens",
                        f"every one of the {len(too_long)} training prompts is longer than {cfg.rollout.max_prompt_tokens} tokens (the shortest has {shortest})",
                        f"raise rollout.max_prompt_tokens to at least {shortest}, or shorten the prompts")
    try:
        verifier = VerifierRunner(cfg.task.verifier, base_dir=str(base_dir), timeout_s=cfg.task.verifier_timeout_s,
                                  workers=cfg.task.verifier_workers)
        audit = Audit.from_config(cfg, base_dir)
    except (ValueError, OSError) as exc:
        raise InputError(str(exc)) from None
    return Inputs(verifier, train_examples, eval_sets, too_long, audit)
