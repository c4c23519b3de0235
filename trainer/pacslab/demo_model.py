"""`make-demo-model`: build the embedded default policy, builtin:arith-tiny.

A three-layer Llama with a character-level tokenizer, warmed up by a short supervised run on the
arithmetic train split until it writes answers in the right format but gets most of them wrong
(held-out greedy accuracy of about a quarter), so RL has something to fix within a few minutes
on a laptop CPU.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from pacslab.models import ASSETS_DIR
from pacslab.rollout import generate_rollouts
from pacslab.tasks import Example, arith_examples

PAD, EOS, UNK, BOS = "<pad>", "$", "<unk>", "<s>"
# Characters of arithmetic prompts and answers, plus a few more so that small edits of the task
# (spaces, brackets, a question mark) stay in-vocabulary.
CHARS = list("0123456789+-*=/()., ?")


def build_tokenizer():
    """A character-level `PreTrainedTokenizerFast` over a standard tokenizer.json (WordLevel model,
    one piece per character, Fuse decoder), so the `tokenizers` libraries in Python and JS load it."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([PAD, EOS, UNK, BOS, *CHARS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens([PAD, EOS, UNK, BOS])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK, bos_token=BOS, padding_side="left", model_max_length=64)


def save_tokenizer(tokenizer, out: Path) -> None:
    """`save_pretrained`, plus the files older transformers releases look for: the generic
    `PreTrainedTokenizerFast` class name and special_tokens_map.json."""
    tokenizer.save_pretrained(out)
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    special = {"bos_token": BOS, "eos_token": EOS, "unk_token": UNK, "pad_token": PAD}
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


def build_model(tokenizer, *, seed: int, layers: int, hidden: int, heads: int, kv_heads: int | None = None,
                intermediate: int | None = None):
    """A randomly initialised Llama over `tokenizer` (MLP 4 × hidden and full attention unless told)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate or 4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads or heads,
        max_position_embeddings=64,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def supervised_batch(tokenizer, examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded `prompt + answer + EOS` ids, attention mask and labels (-100 outside the answer)."""
    rows = []
    for e in examples:
        prompt = tokenizer(e.prompt)["input_ids"]
        answer = tokenizer(e.answer)["input_ids"] + [tokenizer.eos_token_id]
        rows.append((prompt + answer, [-100] * len(prompt) + answer))
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for row, (tokens, targets) in enumerate(rows):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        labels[row, : len(targets)] = torch.tensor(targets)
    return ids, (ids != tokenizer.pad_token_id).long(), labels


def warm_up(model, tokenizer, examples: list[Example], *, steps: int, batch_size: int, lr: float, seed: int, log=print) -> None:
    """Next-token cross-entropy on the answers, AdamW at a constant learning rate."""
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    for step in range(1, steps + 1):
        ids, mask, labels = supervised_batch(tokenizer, rng.sample(examples, batch_size))
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 100 == 0 or step == steps:
            log(f"warm-up step {step}/{steps} loss {loss.item():.4f}")


def greedy_accuracy(model, tokenizer, examples: list[Example], *, max_new_tokens: int, batch_size: int = 256) -> float:
    """Share of examples whose greedy response equals the answer exactly."""
    correct = 0
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        batch = generate_rollouts(model, tokenizer, [e.prompt for e in chunk], n=1, max_new_tokens=max_new_tokens, temperature=1.0, top_p=1.0, generator=None, greedy=True)
        correct += sum(text.strip() == e.answer for text, e in zip(batch.response_texts, chunk))
    return correct / len(examples)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pacslab make-demo-model", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ASSETS_DIR / "arith-tiny", help="output directory (default: the shipped builtin:arith-tiny)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and data-order seed")
    parser.add_argument("--steps", type=int, default=450, help="supervised warm-up steps")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--digits", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=20000)
    parser.add_argument("--eval-size", type=int, default=200)
    parser.add_argument("--task-seed", type=int, default=1234, help="task.arith.seed of the default config")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    # One thread keeps the float reductions, hence the whole build, identical from one machine to
    # the next: the warm-up stops close to a sharp rise in accuracy, where small differences show.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed=args.seed, layers=args.layers, hidden=args.hidden, heads=args.heads)
    train = arith_examples(digits=args.digits, ops=["+"], n=args.train_size, seed=args.task_seed, split="train")
    held_out = arith_examples(digits=args.digits, ops=["+"], n=args.eval_size, seed=args.task_seed, split="eval")
    warm_up(model, tokenizer, train, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    max_new_tokens = args.digits + 2
    accuracy = greedy_accuracy(model, tokenizer, held_out, max_new_tokens=max_new_tokens)
    torch.set_num_threads(threads)
    print(f"held-out greedy accuracy {accuracy:.3f} on {len(held_out)} problems")
    args.out.mkdir(parents=True, exist_ok=True)
    model.generation_config.max_new_tokens = max_new_tokens
    model.generation_config.do_sample = False
    model.save_pretrained(args.out, safe_serialization=True)
    save_tokenizer(tokenizer, args.out)
    metadata = {
        "description": "builtin:arith-tiny, the PACS Lab demo policy: a tiny Llama briefly warmed up on addition",
        "architecture": {"type": "llama", "layers": args.layers, "hidden": args.hidden, "heads": args.heads, "vocab": len(tokenizer)},
        "warm_up": {"seed": args.seed, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr},
        "task": {"type": "arith", "digits": args.digits, "ops": ["+"], "train_size": args.train_size, "seed": args.task_seed},
        "held_out_greedy_accuracy": accuracy,
        "held_out_size": len(held_out),
        "build_seconds": round(time.perf_counter() - start, 1),
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
    }
    (args.out / "pacslab-demo.json").write_text(json.dumps(metadata, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
