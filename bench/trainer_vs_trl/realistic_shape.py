"""The realistic shape of bench/trainer_vs_trl (`run.py --shape realistic`): the proportions of real
RLVR at a size a CPU can step. Everything is built here, nothing downloaded:

- a random-init Qwen2 (hidden 256, 6 layers, 4 heads, 8,192-token vocabulary, tied embeddings:
  about 10M parameters) with a byte-level BPE tokenizer trained on the prompts' own words;
- prompts of exactly 64 tokens; a random-init model rarely stops, so responses run to
  max_new_tokens (256; the result records the mean length);
- a reward both trainers compute the same way (`byte_parity`: the parity of the response's
  bytes), so that groups are mixed and every step has advantages to train on.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

SHAPE = {"hidden": 256, "layers": 6, "heads": 4, "kv_heads": 4, "intermediate": 1376, "vocab": 8192}
PROMPT_TOKENS = 64
RESPONSE_TOKENS = 256
PROMPTS, SAMPLES = 8, 8
LR = 1e-5
EOS, PAD = "<|endoftext|>", "<|pad|>"


def byte_parity(response: str, answer: str, prompt: str = "") -> int:
    """1 when the response's UTF-8 bytes sum to an even number: a coin flip for random text.

    >>> byte_parity("aa", ""), byte_parity("ab", "")
    (1, 0)
    """
    return int(sum(response.encode()) % 2 == 0)


def _words(rng: random.Random, count: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(count)]


def _tokenizer(corpus: list[str]):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=SHAPE["vocab"], min_frequency=1, special_tokens=[EOS, PAD])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token=EOS, pad_token=PAD, bos_token=EOS)
    tok.model_max_length = 4096
    return tok


def _prompts(tok, rng: random.Random, count: int) -> list[str]:
    """`count` texts of exactly PROMPT_TOKENS tokens (cut, decoded, kept only if they re-encode to that length)."""
    out = []
    while len(out) < count:
        ids = tok(" ".join(_words(rng, 80)))["input_ids"][:PROMPT_TOKENS]
        text = tok.decode(ids)
        if len(tok(text)["input_ids"]) == PROMPT_TOKENS:
            out.append(text)
    return out


def build(work: Path, seed: int = 0) -> dict:
    """Model, tokenizer, data and config under `work`; returns their description."""
    import torch
    from transformers import Qwen2ForCausalLM

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from qwen_shape import qwen2_config

    rng = random.Random(seed)
    tok = _tokenizer([" ".join(_words(rng, 50)) for _ in range(4000)])
    model_dir = work / "model"
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(qwen2_config(**{**SHAPE, "vocab": len(tok)}, tokenizer=tok))
    model.generation_config.pad_token_id, model.generation_config.eos_token_id = tok.pad_token_id, tok.eos_token_id
    model.save_pretrained(model_dir, safe_serialization=True)
    tok.save_pretrained(model_dir)
    for split, count in (("train", 256), ("eval", 8)):
        rows = [{"prompt": p, "answer": ""} for p in _prompts(tok, rng, count)]
        (work / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # the verifier is this file's byte_parity, imported from the config's folder by both trainers
    shutil.copyfile(__file__, work / "realistic_shape.py")
    config = work / "realistic.pacs.yaml"
    config.write_text(f"""# bench/trainer_vs_trl --shape realistic (written by realistic_shape.py)
name: realistic
algorithm: grpo
model:
  path: {model_dir}
task:
  type: jsonl
  train_file: train.jsonl
  eval_file: eval.jsonl
  template: "{{prompt}}"
  verifier: "python:realistic_shape:byte_parity"
rollout:
  prompts_per_step: {PROMPTS}
  n: {SAMPLES}
  max_new_tokens: {RESPONSE_TOKENS}
optim:
  lr: {LR}
  schedule: constant
  mini_batch_prompts: {PROMPTS}
  micro_batch_prompts: {PROMPTS}
eval:
  size: 8
  samples: 1
  k: [1]
""")
    return {"config": config, "model_dir": model_dir, "parameters": sum(p.numel() for p in model.parameters()),
            "shape": {**SHAPE, "vocab": len(tok)}, "tokenizer": "byte-level BPE trained here",
            "prompt_tokens": PROMPT_TOKENS, "max_new_tokens": RESPONSE_TOKENS}


if __name__ == "__main__":
    info = build(Path(sys.argv[1]).resolve())
    print({k: str(v) for k, v in info.items()})
