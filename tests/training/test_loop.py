"""The shared training loop: checkpoints, exact resume, the distillation loss wiring, and
how ranks share the batches under DDP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from training.config import Recipe
from training.data.frameset import FrameDataset, FrameSet
from training.distributed import World
from training.loop import RankShare, fit, hard_labels, predict_logits
from training.nets import NETS, BinaryClassifier

CPU = torch.device("cpu")
RECIPE = Recipe(epochs=2, batch_size=8, lr=1e-2)


class Interrupted(Exception):
    pass


class InterruptingDataset(FrameDataset):
    """Raises on item `after` (counting across epochs): a run killed mid-epoch."""

    def __init__(self, *args, after: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.left = after

    def __getitem__(self, i: int):
        self.left -= 1
        if self.left < 0:
            raise Interrupted
        return super().__getitem__(i)


def train(out: Path, data: FrameDataset) -> BinaryClassifier:
    torch.manual_seed(0)
    return fit(NETS.build("mobilenetv3_small_050"), hard_labels(), data, RECIPE, out, 0, CPU, "t")


def test_an_interrupted_fit_resumes_to_the_same_weights(
    tmp_path: Path, frames: Callable[..., FrameSet]
) -> None:
    data = frames(videos=4, per_video=4)
    whole = train(tmp_path / "a", FrameDataset([data, data], 0, random_flip=True))
    with pytest.raises(Interrupted):
        train(tmp_path / "b", InterruptingDataset([data, data], 0, random_flip=True, after=len(data) + 4))
    assert (tmp_path / "b" / "last.pt").is_file() and not (tmp_path / "b" / "model.pt").exists()
    resumed = train(tmp_path / "b", FrameDataset([data, data], 0, random_flip=True))
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_a_finished_fit_loads_instead_of_training(
    tmp_path: Path, frames: Callable[..., FrameSet]
) -> None:
    data = FrameDataset([frames(videos=4, per_video=4)], 0)
    first = train(tmp_path, data)
    stamp = (tmp_path / "model.pt").stat().st_mtime_ns
    again = train(tmp_path, InterruptingDataset([frames(videos=4, per_video=4)], 0, after=0))
    assert (tmp_path / "model.pt").stat().st_mtime_ns == stamp
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                 again.state_dict().values(), strict=True))


def test_predict_logits_matches_the_plain_forward(frames: Callable[..., FrameSet]) -> None:
    data = frames(videos=3, per_video=3)
    net = NETS.build("mobilenetv3_small_050").eval()
    with torch.no_grad():
        plain = net(torch.from_numpy(data.frames).permute(0, 3, 1, 2).float() / 255).numpy()
    np.testing.assert_allclose(predict_logits(net, data, CPU, batch_size=4), plain, atol=1e-4)




@pytest.mark.parametrize("n", [7, 16, 37])
def test_the_ranks_batches_together_are_the_batches_of_one_process(n: int) -> None:
    def batches(world: World, batch: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(3)
        loader = DataLoader(range(n), batch_size=batch, sampler=RankShare(n, world, generator),
                            drop_last=n > 8, generator=generator)
        return [b.tolist() for b in loader]

    alone = batches(World(), 8)
    generator = torch.Generator().manual_seed(3)
    assert alone == [b.tolist() for b in DataLoader(range(n), batch_size=8, shuffle=True, drop_last=n > 8,
                                                    generator=generator)]  # RandomSampler's, as before
    shares = [batches(World(rank, 2), 4) for rank in range(2)]
    assert len(shares[0]) == len(shares[1]) == len(alone)
    for k, batch in enumerate(alone):
        assert sorted(shares[0][k] + shares[1][k]) == sorted(batch[: 2 * (len(batch) // 2)])
