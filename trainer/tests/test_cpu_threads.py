"""tune_cpu_threads: one thread for a step with little work, torch's own count for a large one."""

import pytest
import torch

from pacslab.train import SMALL_STEP_WORK, tune_cpu_threads


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_small_step_runs_on_one_thread(two_threads):
    model = torch.nn.Linear(100, 100)  # 10,100 parameters
    lines = []
    tune_cpu_threads(model, torch.device("cpu"), lines.append, tokens=SMALL_STEP_WORK // 10_100 - 1)
    assert torch.get_num_threads() == 1
    assert "OMP_NUM_THREADS" in lines[0]


def test_large_step_keeps_torch_threads_whatever_the_model_size(two_threads):
    model = torch.nn.Linear(100, 100)
    lines = []
    tune_cpu_threads(model, torch.device("cpu"), lines.append, tokens=SMALL_STEP_WORK // 10_100 + 1)
    assert torch.get_num_threads() == 2
    assert lines == []


def test_omp_num_threads_wins(two_threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    tune_cpu_threads(torch.nn.Linear(10, 10), torch.device("cpu"), lambda _: None, tokens=1)
    assert torch.get_num_threads() == 2
