"""Datasets for training: layout readers, group-wise splits, seeded frame sampling (whole
frames, or face crops cut by the service's face stage: ``training.data.faces``) and its
disk cache (``framecache``). The built-in benchmark generator lives in
``training.data.synth`` (imported on demand: it needs scipy and scikit-image); the frames
in memory as torch datasets in ``training.data.frameset``; the data stage in
``training.data.stage``."""

from training.data.framecache import FrameCache
from training.data.frames import FrameError, count_frames, frame_indices, read_image, sample_frames
from training.data.readers import LAYOUTS, ManifestError, detect_layout, load_dataset
from training.data.sample import CLASS_NAMES, SPLITS, UNLABELLED, DatasetError, Sample
from training.data.splits import crossing_groups, groups_by_split, split_by_group

__all__ = [
    "CLASS_NAMES", "LAYOUTS", "SPLITS", "DatasetError", "FrameCache", "FrameError",
    "ManifestError", "Sample", "UNLABELLED", "count_frames", "crossing_groups", "detect_layout",
    "frame_indices", "groups_by_split", "load_dataset", "read_image", "sample_frames",
    "split_by_group",
]
