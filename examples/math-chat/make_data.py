"""Writes data/*.parquet: generated math problems in the verl/PACS row layout.

Each row has `data_source`, `prompt` (a list of chat messages), `ability`, `reward_model`
({style, ground_truth}) and `extra_info` ({split, index}), as verl's preprocessing scripts write
them. Seeded, so the files are the same on every run: `python make_data.py`.
"""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
SIZES = {"train": 320, "test-arith": 40, "test-linear": 40}


def arith_problem(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    op = rng.choice("+-*")
    value = a + b if op == "+" else a - b if op == "-" else a * b
    return f"What is {a} {op} {b}?", str(value)


def linear_problem(rng: random.Random) -> tuple[str, str]:
    x, a, b = rng.randint(-9, 9), rng.randint(2, 9), rng.randint(1, 30)
    return f"Solve for x: {a}x + {b} = {a * x + b}.", str(x)


GENERATORS = {"synthetic/arith": arith_problem, "synthetic/linear": linear_problem}


def rows(split: str, n: int, seed: int) -> list[dict]:
    rng = random.Random(f"math-chat:{seed}:{split}")
    sources = list(GENERATORS) if split == "train" else [f"synthetic/{split.removeprefix('test-')}"]
    out = []
    for index in range(n):
        source = sources[index % len(sources)]
        question, answer = GENERATORS[source](rng)
        out.append({
            "data_source": source,
            "prompt": [{"role": "user", "content": question}],
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": answer},
            "extra_info": {"split": split, "index": index},
        })
    return out


def main() -> None:
    (HERE / "data").mkdir(exist_ok=True)
    for seed, (split, n) in enumerate(SIZES.items()):
        pq.write_table(pa.Table.from_pylist(rows(split, n, seed)), HERE / "data" / f"{split}.parquet")
        print(f"wrote data/{split}.parquet ({n} rows)")


if __name__ == "__main__":
    main()
