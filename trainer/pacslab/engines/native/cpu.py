"""CPU tuning of the native engine: the thread count of a step by its size, and glibc malloc kept
from handing freed memory back (both measured; see each function)."""

from __future__ import annotations

import ctypes
import os
from typing import Callable

import torch

from pacslab.config import Config


SMALL_STEP_WORK = 10_000_000_000  # parameters × response tokens of a step, below which one thread is faster


def step_work(model: torch.nn.Module, cfg: Config) -> int:
    """The size of a step's work: parameters × the response tokens it samples at most."""
    return sum(p.numel() for p in model.parameters()) * cfg.rollout.prompts_per_step * cfg.rollout.n * cfg.rollout.max_new_tokens


def tune_cpu_threads(model: torch.nn.Module, device: torch.device, log: Callable[[str], None], work: int) -> None:
    """Runs a small step on one CPU thread unless OMP_NUM_THREADS says otherwise; a large one on
    torch's default threads.

    `work` is `step_work`. Below SMALL_STEP_WORK the matrices are too small for intra-op threads to
    pay for their synchronisation, and on a busy machine spinning threads slow every step
    several-fold (measured: 1.8 s against 12.8 s per step of the demo, 4·10⁸, on 2 loaded cores).
    Above it every phase gains from the threads (measured on an idle 2-core machine at the
    realistic shape of bench/trainer_vs_trl, 1.6·10¹¹: 18.0 s against 29.3 s a step, rollout,
    update and ψ_post alike).
    """
    if device.type != "cpu" or "OMP_NUM_THREADS" in os.environ:
        return
    if work < SMALL_STEP_WORK and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
        log("small step on CPU: using one thread (set OMP_NUM_THREADS to choose)")


# glibc's malloc parameters (malloc.h) and the environment variables by which a user sets them
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
MALLOC_ENV = ("GLIBC_TUNABLES", "MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def keep_freed_memory(device: torch.device, log: Callable[[str], None]) -> bool:
    """On a CPU under glibc, has malloc keep the memory it frees for reuse (no chunk of its own
    mapping, no trimming) unless the environment sets malloc's parameters itself; whether it did.

    By default every allocation over 32 MB gets fresh pages that the kernel zero-fills one by one
    and takes back when it is freed: a step's activations, logits chunks and gradients, again at
    every step (measured: 2.3M minor faults in each update of a 10M-parameter model at 64 × 320
    tokens). Kept, the heap grows to the step's peak once and serves every later step from it.
    """
    if device.type != "cpu" or any(name in os.environ for name in MALLOC_ENV):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a libc without mallopt: not glibc
        return False
    if not (mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, -1)):
        return False
    log("CPU: malloc keeps freed memory for reuse (set MALLOC_TRIM_THRESHOLD_ to choose)")
    return True
