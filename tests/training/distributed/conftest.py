"""Runs under torchrun for the DDP tests: real processes, gloo on the CPU. One 2-process
and one 1-process run of a config much smaller than smoke serve the pipeline's tests.

Both read one folder of images that a few epochs learn to tell apart: the built-in
benchmark, as small as a test can afford, leaves every net near chance, where any two runs'
figures differ as much as two seeds' do (up to 0.3 AUC, measured), so a comparison
would say nothing. Both share one frame cache (the same files give the same frames and
augmentations), and each process computes on one thread, as torchrun gives each rank."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT_S = 60  # the runs' --timeout: a collective that waits longer fails the job
# smoke, shrunk: one PatchNet-M teacher and the PatchNet-S student, 6 epochs each, on
# 168 train, 36 val and 36 test images, no degradation or robustness table
TINY = ["teachers.members=[{name: patchnet_m, size: 64}]", "teachers.epochs=6", "teachers.lr=0.003",
        "students.nets=[{name: patchnet_s, size: 64}]", "students.undistilled=false", "students.epochs=6",
        "degrade={}", "evaluation.robustness=false"]


@dataclass(frozen=True)
class Done:
    """A finished command: its exit code and what it printed (stdout and stderr, in order)."""

    returncode: int
    output: str


Launch = Callable[..., Done]


def _python(*argv: str | Path, timeout: float = 240) -> Done:
    """`python ARGV` from the repository root, importable from there, without progress bars
    and on one compute thread; it must end within `timeout` seconds."""
    env = os.environ | {"PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *map(str, argv)], cwd=ROOT, env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return Done(done.returncode, done.stdout)


def _torchrun(nproc: int, *argv: str | Path, timeout: float = 240) -> Done:
    """`torchrun --nproc-per-node NPROC --master-port PORT ARGV` on a free port (a few seconds
    a job sooner here than `--standalone`'s rendezvous, which `distill --nproc` uses)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return _python("-m", "torch.distributed.run", f"--nproc-per-node={nproc}", f"--master-port={port}", *argv,
                   timeout=timeout)


@pytest.fixture(scope="session")
def python() -> Launch:
    """python(*argv, timeout=240): `python ARGV` in one process (see `_python`)."""
    return _python


@pytest.fixture(scope="session")
def torchrun() -> Launch:
    """torchrun(nproc, *argv, timeout=240): ARGV on NPROC processes under torchrun."""
    return _torchrun


@pytest.fixture(scope="session")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder tree of 240 images, 64 px (`real/`, `fake/`): smooth random textures, the
    fake ones under a faint 2-pixel checkerboard, as an up-sampling grid."""
    from PIL import Image

    root, rng, size = tmp_path_factory.mktemp("ddp-bench"), np.random.default_rng(0), (64, 64)
    y, x = np.mgrid[:64, :64]
    grid = 16.0 * (((y // 2 + x // 2) % 2) * 2 - 1)[..., None]
    for i in range(240):
        coarse = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
        pixels = np.asarray(coarse.resize(size, Image.BICUBIC), np.float32) + rng.normal(0, 4, (*size, 3))
        pixels += grid if i % 2 else 0
        folder = root / ("fake" if i % 2 else "real")
        folder.mkdir(exist_ok=True)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The frame (and soft-label) cache the runs share."""
    return tmp_path_factory.mktemp("ddp-cache")


@pytest.fixture(scope="session")
def distill_args(bench: Path, cache: Path) -> Callable[[Path], list[str]]:
    """distill_args(out): the arguments of `distill` running the tiny config into `out`."""
    sets = [*TINY, f"data.path={bench}", f"data.cache_dir={cache}"]
    return lambda out: ["smoke", "--out", str(out), f"--timeout={TIMEOUT_S}", *(f"--set={s}" for s in sets)]


@pytest.fixture(scope="session")
def two_ranks(distill_args: Callable[[Path], list[str]],
              tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The tiny config on 2 processes (`distill --nproc 2`: it starts torchrun): (run folder, log)."""
    out = tmp_path_factory.mktemp("ddp-two") / "run"
    done = _python("-m", "training.cli", "distill", *distill_args(out), "--nproc", "2")
    assert done.returncode == 0, done.output[-4000:]
    return out, done.output


@pytest.fixture(scope="session")
def one_rank(distill_args: Callable[[Path], list[str]],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The same config in one process, without torchrun: (run folder, log)."""
    out = tmp_path_factory.mktemp("ddp-one") / "run"
    done = _python("-m", "training.cli", "distill", *distill_args(out))
    assert done.returncode == 0, done.output[-4000:]
    return out, done.output
