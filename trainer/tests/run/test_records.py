"""Rollout records as Parquet (pacslab.run.records): every field round trips, JSONL on request, bad files named."""

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from pacslab import cli
from pacslab.run import files as runio, records


def sample(group: int, index: int, **overrides) -> dict:
    tokens = ["The", " sum", " is", " 4", "2", " 😀", "<|eos|>"]
    record = {
        "step": 3, "group": group, "index": index, "prompt_id": f"train-{group:04d}", "prompt": "What is 40 + 2?\n",
        "response": "The sum is 42 😀", "answer": "42", "reward": 1.0,
        "verifier": {"parsed": "42", "detail": "matched", "error": None},
        "logratio": 0.25, "psi": -0.5, "p_correct": 0.377, "grad_weight": 0.623, "weight": 1.5,
        "length": len(tokens), "truncated": False, "tokens": tokens,
        "token_logratio": [0.125, -0.25, 0.0, 1.5, -2.0, 0.5, 0.0625],
    }
    record.update(overrides)
    return record


def test_every_field_round_trips(tmp_path):
    written = [
        sample(0, 0),
        # the tokens join to something else than the response (special tokens, a byte-level piece)
        sample(0, 1, response="<b>x</b>", reward=0.0, verifier={"parsed": None, "detail": None, "error": "boom"}, truncated=True),
        # a step without the critic pass: critic fields null and no token log-ratios
        sample(1, 0, logratio=None, psi=None, p_correct=None, grad_weight=None, token_logratio=None),
        sample(1, 1, advantage=-0.5, rewards={"accuracy": 1.0}),  # keys only some records have
    ]
    del written[2]["token_logratio"]
    rel = runio.write_rollouts(tmp_path, 3, written)
    assert rel == "rollouts/step-000003.parquet"
    read, bad = records.read_step(tmp_path, 3)
    assert bad == 0 and read == written  # the log-ratios above are exact in float16


def test_log_ratios_are_float16_and_numpy_arrays_are_taken(tmp_path):
    values = np.array([0.1, -0.2, 0.3], dtype=np.float32)
    r = sample(0, 0, tokens=["a", "b", "c"], response="abc", length=3, token_logratio=values)
    runio.write_rollouts(tmp_path, 1, [r])
    (back,), _ = records.read_step(tmp_path, 1)
    assert back["token_logratio"] == [float(np.float16(v)) for v in values]
    assert back["tokens"] == ["a", "b", "c"]
    runio.write_rollouts(tmp_path, 2, [r], jsonl=True)
    (line,), _ = records.read_step(tmp_path, 2)
    assert line["token_logratio"] == pytest.approx(values.tolist())


def test_a_records_file_without_token_details_or_imported_fields(tmp_path):
    imported = [{"step": 1, "group": 0, "index": i, "prompt": "p", "response": f"r{i}", "reward": 1.0, "advantage": 0.5}
                for i in range(3)]
    runio.write_rollouts(tmp_path, 1, imported)
    assert records.read_step(tmp_path, 1) == (imported, 0)


def test_a_preview_of_each_response_is_written_beside_it_and_is_no_record_key(tmp_path):
    long = "é😀" * 300  # 600 code points: the preview cuts at 400 of them, never inside a pair
    written = [sample(0, 0, response=long, tokens=[long], length=1, token_logratio=[0.5]), sample(0, 1),
               sample(1, 0, response_preview="a key of the record's own")]
    runio.write_rollouts(tmp_path, 1, written)
    table = pq.read_table(tmp_path / "rollouts" / "step-000001.parquet")
    assert table.column(records.PREVIEW_COLUMN).to_pylist() == [long[:records.PREVIEW_CHARS], "The sum is 42 😀", "The sum is 42 😀"]
    assert len(table.column(records.PREVIEW_COLUMN)[0].as_py()) == 400
    assert records.read_step(tmp_path, 1) == (written, 0)


def test_a_step_written_before_the_preview_still_reads(tmp_path):
    written = [sample(0, 0), sample(0, 1, response="<b>x</b>")]
    old = records.encode(records.to_table(written).drop_columns([records.PREVIEW_COLUMN]))
    (tmp_path / "rollouts").mkdir()
    (tmp_path / "rollouts" / "step-000002.parquet").write_bytes(old)
    assert records.read_step(tmp_path, 2) == (written, 0)


def test_mismatched_token_logratio_is_refused(tmp_path):
    with pytest.raises(ValueError, match="group 0 index 0 has 2 token log-ratios for 7 tokens"):
        runio.write_rollouts(tmp_path, 1, [sample(0, 0, token_logratio=[0.1, 0.2])])


def test_jsonl_option_and_old_runs_still_read(tmp_path):
    runio.write_rollouts(tmp_path, 4, [sample(0, 0)], jsonl=True)
    assert (tmp_path / "rollouts" / "step-000004.jsonl").is_file()
    assert not (tmp_path / "rollouts" / "step-000004.parquet").exists()
    assert records.read_step(tmp_path, 4) == ([sample(0, 0)], 0)
    assert records.read_step(tmp_path, 5) == ([], 0)


def test_the_parquet_file_is_much_smaller_than_jsonl(tmp_path):
    rng = np.random.default_rng(0)
    many = []
    for i in range(64):
        tokens = [str(t) for t in rng.integers(0, 1000, size=400)]
        many.append(sample(i // 8, i % 8, tokens=tokens, response="".join(tokens), length=400,
                           token_logratio=rng.normal(0, 0.05, size=400).tolist()))
    parquet = (tmp_path / runio.write_rollouts(tmp_path, 1, many)).stat().st_size
    jsonl = (tmp_path / runio.write_rollouts(tmp_path, 1, many, jsonl=True)).stat().st_size
    assert parquet * 4 < jsonl


def test_a_corrupt_or_linked_file_is_named(tmp_path, capsys):
    runio.write_rollouts(tmp_path, 1, [sample(0, 0)])
    path = tmp_path / "rollouts" / "step-000001.parquet"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(records.RecordsError, match="step-000001.parquet: not a readable rollout file"):
        records.read_step(tmp_path, 1)
    assert cli.main(["rollouts", str(tmp_path), "--step", "1"]) == 2
    assert "step-000001.parquet: not a readable rollout file" in capsys.readouterr().err
    os.remove(path)
    elsewhere = tmp_path / "elsewhere.parquet"
    runio.write_rollouts(tmp_path, 2, [sample(0, 0)])
    os.replace(tmp_path / "rollouts" / "step-000002.parquet", elsewhere)
    path.symlink_to(elsewhere)
    with pytest.raises(runio.UnsafeRunPath, match="symbolic link"):
        records.read_step(tmp_path, 1)


def test_cli_prints_a_step_as_jsonl(tmp_path, capsys):
    written = [sample(0, 0), sample(0, 1)]
    runio.write_rollouts(tmp_path, 7, written)
    assert cli.main(["rollouts", str(tmp_path), "--step", "7", "--jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == written
    assert cli.main(["rollouts", str(tmp_path), "--step", "7"]) == 0
    assert capsys.readouterr().out.startswith("0:0\tR=1.0\tpsi=-0.5\tlen=7\tThe sum is 42 😀")
    assert cli.main(["rollouts", str(tmp_path), "--step", "8"]) == 2
    assert "no rollout file for step 8" in capsys.readouterr().err
