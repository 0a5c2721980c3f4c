"""`training.loop.fit` under torchrun (`fit_worker.py`): 2 processes sharing each batch train
the weights 1 process trains (when no batch statistics or random draws differ), a rank
killed mid-epoch ends the job with its cause and the run resumes to the weights of one never
interrupted, and a rank that hangs ends the job at the collective timeout, named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

WORKER = Path(__file__).with_name("fit_worker.py")
TIMEOUT_S = 60  # the worker's collective timeout: a job that outlives it hangs
Launch = Callable[..., Any]


def weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "model.pt", weights_only=True)


def test_two_processes_train_the_weights_of_one(tmp_path: Path, python: Launch, torchrun: Launch) -> None:
    alone, shared = python(WORKER, tmp_path / "one"), torchrun(2, WORKER, tmp_path / "two")
    assert alone.returncode == 0 and shared.returncode == 0, alone.output[-3000:] + shared.output[-3000:]
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    for name in one:  # measured: at most 7e-8 apart after 3 epochs (the all-reduce's sums)
        torch.testing.assert_close(two[name], one[name], rtol=0, atol=1e-6, msg=name)


def test_a_killed_rank_ends_the_job_with_its_cause_and_the_run_resumes_to_the_same_weights(
        tmp_path: Path, torchrun: Launch) -> None:
    args = ("--batchnorm", "--flip")  # rank-own BatchNorm statistics and random flips
    whole = torchrun(2, WORKER, tmp_path / "whole", *args)
    assert whole.returncode == 0, whole.output[-3000:]
    killed = torchrun(2, WORKER, tmp_path / "run", *args, "--kill-at", "20", timeout=TIMEOUT_S)  # epoch 2
    assert killed.returncode != 0
    failures = killed.output[killed.output.index("FAILED"):]  # torchrun's report names the rank, the signal
    assert "rank      : 1 (local_rank: 1)" in failures and "Signal 9 (SIGKILL) received by PID" in failures
    assert (tmp_path / "run" / "last.pt").is_file() and not (tmp_path / "run" / "model.pt").exists()
    resumed = torchrun(2, WORKER, tmp_path / "run", *args)
    assert resumed.returncode == 0, resumed.output[-3000:]
    assert "resumed" in resumed.output
    expected = weights(tmp_path / "whole")
    assert all(torch.equal(tensor, expected[name]) for name, tensor in weights(tmp_path / "run").items())


def test_a_hung_rank_ends_the_job_at_the_timeout(tmp_path: Path, torchrun: Launch) -> None:
    done = torchrun(2, WORKER, tmp_path / "run", "--stall", "--timeout", "3", timeout=120)
    assert done.returncode != 0
    assert "DistributedError: [rank 0/2] replicating the model from rank 0:" in done.output
    assert "(collectives wait at most 3 s: another rank may have died or hang)" in done.output
