"""A random-init Qwen2-shape causal LM for the benchmarks that need a ~0.5B model (no download).

The default shape is Qwen2-0.5B's: hidden 896, 24 layers, 14 heads, 2 KV heads, intermediate 4864,
vocab 151936, tied embeddings (494M parameters). The tokenizer is pacslab's character-level one
(its ids are a subset of the vocabulary), so text maps to about one token per character.
"""

from __future__ import annotations

import argparse
from pathlib import Path

QWEN2_05B = {"hidden": 896, "layers": 24, "heads": 14, "kv_heads": 2, "intermediate": 4864, "vocab": 151936}


def qwen2_config(*, hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int, vocab: int, tokenizer=None):
    from transformers import Qwen2Config

    special = {}
    if tokenizer is not None:
        special = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id, "bos_token_id": tokenizer.bos_token_id}
    return Qwen2Config(vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=4096,
                       tie_word_embeddings=True, **special)


def build(out: Path | None = None, *, seed: int = 0, dtype=None, **shape):
    """(model, tokenizer); saved to `out` (float32 safetensors) when given."""
    import torch
    from transformers import Qwen2ForCausalLM

    from pacslab.demo_model import build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.model_max_length = 4096
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(qwen2_config(**{**QWEN2_05B, **shape}, tokenizer=tokenizer))
    if dtype is not None:
        model = model.to(dtype)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
    return model, tokenizer


TINY = {"hidden": 64, "layers": 2, "heads": 4, "kv_heads": 2, "intermediate": 128, "vocab": 1000}


def parse_bench_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Adds --work and --out (both required), parses, resolves --work and keeps the hub offline."""
    import os

    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.work = args.work.resolve()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return args


def build_model_dir(work: Path, *, tiny: bool) -> tuple[Path, dict, int]:
    """The 0.5B shape (or a tiny one, for CPU smoke runs) saved to work/model: (folder, shape, parameters)."""
    shape = TINY if tiny else QWEN2_05B
    model_dir = work / "model"
    model, _ = build(model_dir, **shape)
    return model_dir, shape, sum(t.numel() for t in model.parameters())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--vocab", type=int, default=QWEN2_05B["vocab"])
    p.add_argument("--layers", type=int, default=QWEN2_05B["layers"])
    args = p.parse_args()
    model, _ = build(args.out, vocab=args.vocab, layers=args.layers)
    print(f"{sum(t.numel() for t in model.parameters()) / 1e6:.0f}M parameters → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
