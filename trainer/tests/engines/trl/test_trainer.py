"""PacsGRPOTrainer reads the algorithm registry: whose advantages a scored batch carries."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("trl")

from trl import GRPOTrainer  # noqa: E402

from pacslab.engines.trl.trainer import GROUPS, LABELS, PacsGRPOTrainer  # noqa: E402
from pacslab.losses import rloo_advantages  # noqa: E402

TRL_ADVANTAGES = torch.full((4,), 7.0)  # what the stubbed TRL scoring returns for this rank's rows


def scored(monkeypatch, algorithm: str, labels: list[float], *, rank: int, world: int) -> dict:
    """One scored batch of a PacsGRPOTrainer on `rank` of `world`, with TRL's own scoring stubbed:
    its global batch's labels are `labels`, groups of 4, and its advantages TRL_ADVANTAGES."""
    monkeypatch.setattr(GRPOTrainer, "__init__", lambda self, *a, **k: None)
    rows = len(labels) // world
    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions",
                        lambda self, inputs: {"completion_ids": torch.zeros(rows, 3, dtype=torch.long),
                                              "advantages": TRL_ADVANTAGES[:rows].clone()})
    trainer = PacsGRPOTrainer(algorithm=algorithm)
    trainer.num_generations = 4
    trainer.accelerator = SimpleNamespace(process_index=rank)
    trainer.model = SimpleNamespace(training=True)
    trainer._global_labels = torch.tensor(labels)
    return trainer._generate_and_score_completions([])


LABELS_8 = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]  # two groups of 4


def test_rloo_replaces_trls_advantages_with_the_leave_one_out_ones_of_this_ranks_rows(monkeypatch):
    out = scored(monkeypatch, "rloo", LABELS_8, rank=1, world=2)
    expected = rloo_advantages(torch.tensor(LABELS_8), rollout_n=4)[4:]
    torch.testing.assert_close(out["advantages"], expected.to(torch.float32))
    assert out[LABELS].tolist() == LABELS_8[4:] and out[GROUPS].tolist() == [1, 1, 1, 1]


def test_grpo_keeps_trls_own_advantages(monkeypatch):
    out = scored(monkeypatch, "grpo", LABELS_8, rank=0, world=2)
    torch.testing.assert_close(out["advantages"], TRL_ADVANTAGES)
    assert out[LABELS].tolist() == LABELS_8[:4] and "pacs_c" not in out


def test_an_algorithm_engine_trl_does_not_run_is_refused(monkeypatch):
    monkeypatch.setattr(GRPOTrainer, "__init__", lambda self, *a, **k: None)
    with pytest.raises(ValueError, match="engine: trl runs pacs, grpo, rloo"):
        PacsGRPOTrainer(algorithm="dr_grpo")
