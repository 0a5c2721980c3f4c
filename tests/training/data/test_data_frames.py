import numpy as np
import pytest

from training.data.frames import FrameError, count_frames, frame_indices, sample_frames


@pytest.fixture(scope="module")
def clip30(tmp_path_factory, media):
    path = tmp_path_factory.mktemp("f") / "c.mp4"
    return media.encode_clip(path, media.index_levels(30), size=(64, 48))


def test_frame_indices_one_per_bin():
    idx = frame_indices(100, 10, seed=5)
    assert list(idx // 10) == list(range(10))  # one draw in each tenth of the clip
    assert list(frame_indices(100, 10, None)) == [5, 15, 25, 35, 45, 55, 65, 75, 85, 95]
    assert list(frame_indices(100, 10, 5)) == list(idx)
    assert list(frame_indices(100, 10, 6)) != list(idx)
    assert list(frame_indices(3, 6, None)) == [0, 0, 1, 1, 2, 2]  # short clip: repeats
    assert list(frame_indices(1, 3, 0)) == [0, 0, 0]
    with pytest.raises(ValueError):
        frame_indices(0, 3, 0)


def test_samples_the_seeded_indices_scaled_to_size(clip30, media):
    frames = sample_frames(clip30, 6, (40, 24), seed=3)
    assert frames.shape == (6, 24, 40, 3) and frames.dtype == np.uint8
    assert [media.level_index(f) for f in frames] == list(frame_indices(30, 6, 3))
    again = sample_frames(clip30, 6, (40, 24), seed=3)
    np.testing.assert_array_equal(frames, again)
    native = sample_frames(clip30, 2, None, seed=None)
    assert native.shape == (2, 48, 64, 3)
    assert sample_frames(clip30, 4, 32, seed=0).shape == (4, 32, 32, 3)


def test_every_frame_including_the_delayed_ones(tmp_path, media):
    # B-frames make the decoder hold frames back; the last ones come out only on flush
    clip = media.encode_clip(tmp_path / "b.mp4", media.index_levels(12), options={"bf": "3"})
    frames = sample_frames(clip, 12, None, seed=None)
    assert [media.level_index(f) for f in frames] == list(range(12))


def test_containers_without_a_frame_count(tmp_path, media):
    clip = media.encode_clip(tmp_path / "c.mkv", media.index_levels(10))
    assert count_frames(clip) == 10
    frames = sample_frames(clip, 5, 32, seed=None)
    assert [media.level_index(f) for f in frames] == [1, 3, 5, 7, 9]


def test_other_codecs(tmp_path, media):
    clip = media.encode_clip(tmp_path / "c.avi", media.index_levels(6), codec="mpeg4",
                             options={"qscale": "2"})
    assert [media.level_index(f) for f in sample_frames(clip, 3, None, None)] == [1, 3, 5]


def test_images_give_one_frame(tmp_path, place):
    image = place(tmp_path / "a.png")
    frames = sample_frames(image, 8, (16, 12), seed=0)
    assert frames.shape == (1, 12, 16, 3)
    full = sample_frames(image, 8, None, seed=0)
    from PIL import Image

    np.testing.assert_array_equal(full[0], np.asarray(Image.open(image).convert("RGB")))


def test_bad_files(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(FrameError, match="x.mp4"):
        sample_frames(tmp_path / "x.mp4", 4, 32)
    with pytest.raises(ValueError, match="size must be positive"):
        sample_frames(tmp_path / "x.mp4", 4, (0, 10))


def test_frames_equal_the_service_decoders(tmp_path, media, face_benchmark):
    """The training sampler and the service's decoder give the same pixels for a frame."""
    from app.video.decode import Limits, Sampling, VideoReader
    from training.data import load_dataset

    limits = Limits(max_pixels=10**8, max_duration_s=600, timeout_s=60,
                    allowed_codecs=frozenset({"h264"}))
    bframes = media.encode_clip(tmp_path / "b.mp4", media.index_levels(30), size=(64, 48),
                                options={"bf": "3"})
    for clip in (bframes, load_dataset(face_benchmark)[0].path):
        total = count_frames(clip)
        for size in ((40, 24), (96, 96)):
            with clip.open("rb") as fh, VideoReader(fh, limits) as reader:
                served = {f.index: f.pixels for f in
                          reader.frames(Sampling(max_frames=total, every_n=1), size, "rgb24")}
            ours = sample_frames(clip, 5, size, seed=3)
            indices = frame_indices(total, 5, 3)
            assert len(served) == total and len(ours) == len(indices)
            for index, frame in zip(indices, ours, strict=True):
                np.testing.assert_array_equal(frame, served[int(index)])
