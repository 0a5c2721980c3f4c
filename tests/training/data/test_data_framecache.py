import os

import numpy as np
import pytest

from training.data.framecache import FrameCache
from training.data.frames import sample_frames


class CountingSampler:
    def __init__(self):
        self.calls = 0

    def __call__(self, path, n, size, seed, degradation):
        self.calls += 1
        return sample_frames(path, n, size, seed, degradation=degradation)


@pytest.fixture
def clip(tmp_path, media):
    return media.encode_clip(tmp_path / "v" / "c.mp4", media.index_levels(20))


def test_second_call_reads_the_cache(tmp_path, clip):
    sampler = CountingSampler()
    cache = FrameCache(tmp_path / "cache", sampler=sampler)
    first = cache.get(clip, 4, (32, 32), seed=1)
    second = cache.get(clip, 4, (32, 32), seed=1)
    assert (cache.misses, cache.hits, sampler.calls) == (1, 1, 1)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(second, sample_frames(clip, 4, (32, 32), 1))
    assert second.dtype == np.uint8 and second.shape == (4, 32, 32, 3)
    files = list((tmp_path / "cache").rglob("*"))
    assert [f.suffix for f in files if f.is_file()] == [".npy"]  # no temporary left over
    # a fresh cache object (next epoch, another worker) finds the same entry
    other = FrameCache(tmp_path / "cache", sampler=sampler)
    np.testing.assert_array_equal(other.get(clip, 4, (32, 32), seed=1), first)
    assert (other.hits, sampler.calls) == (1, 1)


def test_key_covers_arguments_and_file_change(tmp_path, clip):
    sampler = CountingSampler()
    cache = FrameCache(tmp_path / "cache", sampler=sampler)
    cache.get(clip, 4, 32, seed=1)
    cache.get(clip, 5, 32, seed=1)
    cache.get(clip, 4, 24, seed=1)
    cache.get(clip, 4, 32, seed=2)
    assert sampler.calls == 4
    stat = clip.stat()
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    cache.get(clip, 4, 32, seed=1)
    assert sampler.calls == 5 and cache.hits == 0


def test_unreadable_entry_is_decoded_again(tmp_path, clip):
    sampler = CountingSampler()
    cache = FrameCache(tmp_path / "cache", sampler=sampler)
    fresh = cache.get(clip, 3, 32, seed=0)
    cache.entry(clip, 3, 32, 0).write_bytes(b"torn")
    np.testing.assert_array_equal(cache.get(clip, 3, 32, seed=0), fresh)
    assert sampler.calls == 2
    assert np.load(cache.entry(clip, 3, 32, 0)).shape == fresh.shape
