"""Frame sets and augmentation views: seeded, identical at any resolution, cache-keyable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from training.data.frameset import FrameDataset, FrameSet, to_tensor, view_params


def test_view_zero_is_the_clean_frame(frames: Callable[..., FrameSet]) -> None:
    data = frames()
    params = view_params(data, seed=0, view=0)
    assert np.array_equal(params, np.tile([0.0, 1.0, 1.0], (len(data), 1)))
    assert torch.allclose(to_tensor(data.frames, params), to_tensor(data.frames), atol=1e-6)


def test_views_are_seeded_per_sample_not_per_position(frames: Callable[..., FrameSet]) -> None:
    data = frames()
    first = view_params(data, seed=0, view=1)
    assert np.array_equal(first, view_params(data, seed=0, view=1))
    assert not np.array_equal(first, view_params(data, seed=0, view=2))
    assert not np.array_equal(first, view_params(data, seed=1, view=1))
    # a sample keeps its draws when the other samples change (what the cache keys on)
    fewer = replace(data, keys=data.keys[:2], video=data.video[:6], frames=data.frames[:6])
    assert np.array_equal(view_params(fewer, 0, 1), first[:6])
    assert set(first[:, 0]) == {0.0, 1.0}
    assert np.all(np.abs(first[:, 1:] - 1.0) <= 0.1)


def test_a_view_is_the_same_picture_at_any_size(frames: Callable[..., FrameSet]) -> None:
    big = frames(size=32)
    small = replace(big, frames=big.frames.reshape(-1, 16, 2, 16, 2, 3).mean((2, 4))
                    .round().astype(np.uint8))
    params = view_params(big, seed=0, view=1)
    params[:, 1:] = 1.0 + (params[:, 1:] - 1.0) * 0.1  # little jitter: no clamping at 0 or 1
    augmented_then_shrunk = F.avg_pool2d(to_tensor(big.frames, params), 2)
    shrunk_then_augmented = to_tensor(small.frames, params)
    assert torch.allclose(augmented_then_shrunk, shrunk_then_augmented, atol=2.5 / 255)


def test_flip_mirrors_and_jitter_keeps_range(frames: Callable[..., FrameSet]) -> None:
    data = frames(videos=1, per_video=1)
    x = to_tensor(data.frames, np.array([[1.0, 1.0, 1.0]]))
    assert torch.allclose(x, to_tensor(data.frames).flip(-1), atol=1e-6)
    jittered = to_tensor(data.frames, np.array([[0.0, 1.1, 1.1]]))
    assert jittered.min() >= 0.0 and jittered.max() <= 1.0


def test_dataset_items_follow_the_view(frames: Callable[..., FrameSet]) -> None:
    data = frames()
    soft = np.random.default_rng(0).dirichlet([1, 1], (2, len(data))).astype(np.float32)
    dataset = FrameDataset([data, data], seed=0, soft=soft)
    x, y, target = dataset[5]
    assert x.shape == (3, 32, 32) and y == data.labels[5]
    assert torch.equal(target, torch.from_numpy(soft[0, 5]))
    dataset.set_view(3)
    assert torch.equal(dataset[5][2], torch.from_numpy(soft[1, 5]))
    with pytest.raises(ValueError, match=r"must be \(N, 2\) for each of the 2 views of \[12, 12\]"):
        FrameDataset([data, data], seed=0, soft=soft[:1])


def test_random_flip_mirrors_half_the_draws_reproducibly(frames: Callable[..., FrameSet]) -> None:
    data = frames(videos=1, per_video=1)
    plain = FrameDataset([data], seed=0)[0][0]
    assert not torch.equal(plain, plain.flip(-1))
    dataset = FrameDataset([data], seed=0, random_flip=True)
    torch.manual_seed(0)
    draws = [dataset[0][0] for _ in range(200)]
    mirrored = [torch.equal(x, plain.flip(-1)) for x in draws]
    assert all(m or torch.equal(x, plain) for m, x in zip(mirrored, draws, strict=True))
    assert 70 < sum(mirrored) < 130
    torch.manual_seed(0)
    assert all(torch.equal(dataset[0][0], x) for x in draws)  # fit() seeds torch: reproducible
    assert all(torch.equal(FrameDataset([data], seed=0)[0][0], plain) for _ in range(20))


def test_take_keeps_the_rows_and_the_samples_they_index(frames: Callable[..., FrameSet]) -> None:
    fs = frames(videos=3, per_video=2)
    part = fs.take(np.array([1, 4]))
    np.testing.assert_array_equal(part.frames, fs.frames[[1, 4]])
    assert part.labels.tolist() == [0, 0] and part.video.tolist() == [0, 2]
    assert part.samples == fs.samples and part.keys == fs.keys
