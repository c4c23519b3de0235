"""The full kill sweep (see sweep.py): 20 `kill -9`s at random moments of short runs on a tiny
random model, each then resumed; bench/results/kill_sweep.json has every trial and the counts.

    python bench/kill_sweep/run.py [--kills 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from machine import write_result  # noqa: E402
from sweep import sweep, write_config  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from pacslab.demo_model import build_model, build_tokenizer

    with tempfile.TemporaryDirectory(prefix="kill-sweep-") as tmp:
        folder = Path(tmp)
        tokenizer = build_tokenizer()
        build_model(tokenizer, seed=0, layers=1, hidden=32, heads=2).save_pretrained(folder / "tiny-model")
        tokenizer.save_pretrained(folder / "tiny-model")
        result = sweep(write_config(folder, folder / "tiny-model"), folder / "runs", kills=args.kills, seed=args.seed)
    path = write_result("kill_sweep", result)
    print(f"{result['kills']} kills: {result['outcomes']}; {result['bad']} bad -> {path}")
    return 1 if result["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
