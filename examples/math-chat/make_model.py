"""Builds model/: a random-init, Qwen2-shaped causal LM with a byte-level BPE tokenizer and a
chat template of its own, small enough to train on a CPU in seconds. It is untrained: the
example shows the plumbing (chat template, verl/PACS rows, eval sets, LoRA), not learning.

    python make_model.py [--out model]
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# ChatML-like: each message on its own turn; the generation prompt opens the assistant's turn.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


def corpus() -> list[str]:
    import pyarrow.parquet as pq

    texts = ["system", "user", "assistant", "The answer is \\boxed{42}.", "Put the final answer in \\boxed{}."]
    for path in sorted((HERE / "data").glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            texts += [m["content"] for m in row["prompt"]] + [row["reward_model"]["ground_truth"]]
    return texts


def build_tokenizer(vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(corpus(), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=CHAT_TEMPLATE)


def build_model(tokenizer, *, seed: int = 0):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=None)
    return Qwen2ForCausalLM(config)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "model")
    args = parser.parse_args(argv)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    print(f"wrote {args.out} ({sum(p.numel() for p in model.parameters()):,} parameters, {len(tokenizer)} tokens)")


if __name__ == "__main__":
    main()
