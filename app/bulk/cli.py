"""`distilscreen bulk SOURCE... --out DIR`: registered through the `distilscreen.commands`
entry points, so that Ray is imported only when this command is asked for."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from app.cli import add_sampling_arguments, screen_options
from app.config import Settings


def add_parser(commands: argparse._SubParsersAction) -> None:
    bulk = commands.add_parser(
        "bulk", help="screen a corpus on Ray Data (a local Ray, or a cluster) into Parquet",
        description="Screen every video of the sources: a folder, a CSV/JSONL manifest, or paths and "
        "URLs (file://, s3://, gs://...). Results go to DIR/frames and DIR/videos as Parquet; a re-run "
        "skips the videos already there. Settings: DISTILSCREEN_* env, as for `serve`.",
    )
    bulk.add_argument("sources", nargs="+", metavar="SOURCE", help="folder, manifest, path or URL")
    bulk.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the Parquet tables go")
    bulk.add_argument("--address", help="a Ray cluster (ray://host:10001, auto); default: a local Ray")
    bulk.add_argument("--model", type=Path, help="ONNX model (default: DISTILSCREEN_MODEL_PATH)")
    bulk.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    bulk.add_argument("--concurrency", type=_at_least(1), default=1, help="predictor actors (model replicas)")
    bulk.add_argument("--batch-size", type=_at_least(1), default=64, help="frames per model batch")
    bulk.add_argument("--actor-cpus", type=float, default=1.0, help="CPUs each predictor holds")
    bulk.add_argument("--decode-cpus", type=float, default=1.0, help="CPUs each decode task holds")
    bulk.add_argument("--videos-per-part", type=_at_least(1), default=64, help="videos per Parquet part")
    bulk.add_argument("--retries", type=_at_least(0), default=2,
                      help="retries of a decode task or model call whose Ray worker died (then: error rows)")
    bulk.add_argument("--verbose", action="store_true", help="Ray's own progress bars and worker logs")
    add_sampling_arguments(bulk)
    bulk.set_defaults(func=_bulk)


def _at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least `low`."""

    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse



def _bulk(args: argparse.Namespace) -> int:
    from app.bulk.pipeline import BulkJob, run_bulk
    from app.bulk.sources import SourceError

    settings = Settings(**({"model_path": args.model} if args.model else {}))
    job = BulkJob(
        sources=args.sources, out=args.out, options=screen_options(args), address=args.address,
        num_cpus=args.num_cpus, concurrency=args.concurrency, batch_size=args.batch_size,
        actor_cpus=args.actor_cpus, decode_cpus=args.decode_cpus, videos_per_part=args.videos_per_part,
        retries=args.retries, verbose=args.verbose,
    )
    console = Console(stderr=True)
    try:
        summary = run_bulk(settings, job, console)
    except SourceError as exc:
        console.print(f"distilscreen bulk: {exc}")
        return 2
    errors = ", ".join(f"{code} {n}" for code, n in sorted(summary.errors.items())) or "none"
    print(f"videos: {summary.videos} ({summary.skipped} already done, {summary.screened} screened now)")
    print(f"frames: {summary.frames} in {summary.seconds:.1f} s, {summary.frames_per_s:.1f} frames/s")
    print(f"errors: {errors}")
    print(f"results: {args.out / 'frames'}, {args.out / 'videos'}")
    return 0
