"""The Ray Data plan of a bulk run, and its run.

paths -> `map_batches(decode_videos)`: a CPU task per video -> `map_batches(Predictor)`: an
actor pool of `concurrency` judges (a GPU each where the cluster has GPUs), `batch_size`
frames from any videos per call -> rows streamed to the driver's `ResultWriter`.

The driver opens the model once first, so that a bad model or bad options fail before
Ray starts, and so that decode tasks get the judge's conversions, the service's limits and
the sampling the service would use for the same options.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import ray
import ray.data
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.bulk.decode import DecodePlan, decode_videos
from app.bulk.predict import Predictor
from app.bulk.results import ResultWriter, done_videos
from app.bulk.sources import expand
from app.config import Settings
from app.contract.card import FaceCrop
from app.inference.engine import Engine
from app.judges import make_judge
from app.metrics import Metrics
from app.schemas import ScreenOptions
from app.screening import Screener
from app.video.decoders import LocalDecoder

MAX_BLOCKS = 10_000  # of the list of videos: more only load the driver's scheduling


@dataclass(frozen=True)
class BulkJob:
    """One `distilscreen bulk` run, as the command line gives it."""

    sources: list[str]
    out: Path
    options: ScreenOptions = field(default_factory=ScreenOptions)
    address: str | None = None  # a Ray cluster; None: a local Ray
    num_cpus: int | None = None  # of a local Ray (None: all)
    concurrency: int = 1  # predictor actors
    batch_size: int = 64  # frames per predictor call, and per model batch
    actor_cpus: float = 1.0
    decode_cpus: float = 1.0
    videos_per_part: int = 64
    retries: int = 2  # of a crashed decode task, or of a predictor call whose actor died
    verbose: bool = False  # Ray's own progress bars and worker logs


@dataclass(frozen=True)
class BulkSummary:
    videos: int  # named by the sources
    skipped: int  # already written by an earlier run
    screened: int  # written by this run (with an error row or not)
    frames: int
    errors: Counter[str]
    seconds: float
    gpus: float

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def run_bulk(settings: Settings, job: BulkJob, console: Console | None = None) -> BulkSummary:
    """Screen every video the job's sources name that `job.out` does not already hold."""
    started = time.perf_counter()
    refs = expand(job.sources)
    done = done_videos(job.out)
    todo = [r for r in refs if r.video_id not in done]
    queued = max(settings.max_queued_frames, 2 * job.batch_size)
    settings = settings.model_copy(update={"c2pa": False, "max_batch_size": job.batch_size,
                                           "max_queued_frames": queued})
    engine = Engine.from_settings(settings)
    judge = make_judge(settings, engine, Metrics())
    screener = Screener.from_settings(settings, engine.card, judge, LocalDecoder(), Metrics())
    plan = DecodePlan(settings, screener.sampling(job.options), screener.limits, judge.conversions,
                      threads=settings.decode_threads or max(1, int(job.decode_cpus)))
    face_model = isinstance(engine.card.crop, FaceCrop)
    writer = ResultWriter(job.out, engine.card, face_model, {r.video_id: r.columns for r in todo},
                          videos_per_part=job.videos_per_part)
    del engine, judge, screener
    gpus = 0.0
    if todo:
        gpus = _start_ray(job)
        actor_settings = settings.model_copy(update={
            # a predictor without a GPU of its own runs on the CPU, whatever else is installed
            "providers": settings.providers if gpus else ["CPUExecutionProvider"],
            "intra_op_threads": settings.intra_op_threads or max(1, int(job.actor_cpus)),
        })
        dataset = _plan(job, plan, actor_settings, [r.video_id for r in todo], gpus)
        with _progress(console, job.verbose) as progress:
            task = progress.add_task("videos", total=len(todo))
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                writer.add(batch)
                progress.update(task, completed=writer.finished)
            tally = writer.close(r.video_id for r in todo)
            progress.update(task, completed=writer.finished)
    else:
        tally = writer.close(())
    return BulkSummary(len(refs), len(refs) - len(todo), tally.videos, tally.frames, tally.errors,
                       time.perf_counter() - started, gpus)


def _start_ray(job: BulkJob) -> float:
    """Join the job's cluster (or start a local Ray); the GPUs it has."""
    if not ray.is_initialized():
        local = {} if job.address else {"num_cpus": job.num_cpus, "include_dashboard": False}
        ray.init(address=job.address, log_to_driver=job.verbose,
                 logging_level=logging.INFO if job.verbose else logging.WARNING, **local)
    logging.getLogger("ray.data").setLevel(logging.INFO if job.verbose else logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = job.verbose
    context.max_errored_blocks = -1  # a block lost after its retries fails its videos, not the run
    # decoding waits for the predictors: started beside busy decoders, their models load slowly
    context.wait_for_min_actors_s = 600
    return float(ray.cluster_resources().get("GPU", 0))


def _plan(
    job: BulkJob, plan: DecodePlan, settings: Settings, videos: list[str], gpus: float
) -> ray.data.Dataset:
    # a video a block (a decode task each, retried alone) up to MAX_BLOCKS, then several a block
    blocks = min(len(videos), MAX_BLOCKS)
    items = ray.data.from_items([{"video_id": v} for v in videos], override_num_blocks=blocks)
    # Ray Data retries crashed tasks and restarts dead actors forever unless told otherwise,
    # and 2.60 has no named parameter for it yet: hence the deprecated remote args (and the pin).
    bounded = {"max_retries": job.retries}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated", category=DeprecationWarning)
        decoded = items.map_batches(decode_videos, fn_kwargs={"plan": plan}, batch_size=1,
                                    num_cpus=job.decode_cpus, **bounded)
        return decoded.map_batches(
            Predictor,
            fn_constructor_kwargs={"settings": settings},
            batch_size=job.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=job.concurrency),
            num_cpus=job.actor_cpus,
            num_gpus=1 if gpus else None,
            max_restarts=job.retries,
            max_task_retries=job.retries,
        )


def _progress(console: Console | None, verbose: bool) -> Progress:
    """Videos done, as a bar (off when Ray's own bars are on, or without a console)."""
    return Progress(TextColumn("[bold]bulk[/bold]"), BarColumn(), MofNCompleteColumn(), TextColumn("videos"),
                    TimeElapsedColumn(), console=console, disable=console is None or verbose)
