"""The kill sweep's short form: 3 `kill -9`s at random moments, each run crashed-then-resumable or
clearly not resumable, never a traceback (the full 20: bench/kill_sweep/run.py)."""

from __future__ import annotations

import sys

import pytest

from conftest import REPO_DIR

sys.path.insert(0, str(REPO_DIR / "bench" / "kill_sweep"))
from sweep import sweep, write_config  # noqa: E402


@pytest.mark.slow
def test_three_random_kills_leave_runs_that_resume_or_say_they_cannot(tmp_path, tiny_model_dir):
    result = sweep(write_config(tmp_path, tiny_model_dir), tmp_path / "runs", kills=3, seed=13)
    assert result["bad"] == 0, [(t["index"], t["outcome"]) for t in result["trials"]]
    assert sum(t["killed"] for t in result["trials"]) >= 1, result["trials"]
