"""The service's engine: the contract's predictor, opened as the settings say."""

from __future__ import annotations

from typing import Self

from app.config import Settings
from app.contract.predictor import Predictor


class Engine(Predictor):
    """The served model: a `Predictor` on the providers, threads and caches of the settings."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls.load(
            settings.model_path, settings.providers, settings.intra_op_threads, settings.trt_cache_dir,
            settings.ort_spinning,
        )
