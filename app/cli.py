"""`distilscreen`: one command, subcommands. `serve` and `screen` never import torch.

Other packages add subcommands through the `distilscreen.commands` entry-point group: an
entry point named after its subcommand points to `add_parser(subparsers)`, which registers
that subcommand and sets `func`. It is imported only when its command is asked for, so
`serve` and `screen` stay light, and a missing extra is reported instead of crashing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from app.config import Settings
from app.contract.card import CardError
from app.errors import ScreenError
from app.inference.engine import Engine
from app.metrics import Metrics
from app.provenance.models import Provenance
from app.schemas import Heatmap, ScreenOptions, ScreenResponse
from app.screening import running_screener

COMMAND_GROUP = "distilscreen.commands"
PLUGIN_EXTRAS = {"bulk": "bulk"}  # the extra each plugin command needs (others: train)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app

    settings = _settings(args)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        ws_max_size=settings.max_stream_message_bytes,
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
    )
    return 0


async def _screen_file(settings: Settings, video: Path, options: ScreenOptions) -> ScreenResponse:
    async with running_screener(settings, Engine.from_settings(settings), Metrics()) as screener:
        with video.open("rb") as source:
            return await screener.screen(source, options, started=time.perf_counter())


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """The sampling options of `screen` (and of other commands that screen videos)."""
    sampling = parser.add_mutually_exclusive_group()
    sampling.add_argument("--every-n", type=int, help="screen every n-th frame")
    sampling.add_argument("--fps", type=float, help="screen this many frames per second")
    sampling.add_argument("--frames", type=int, help="screen this many frames, spread evenly")
    sampling.add_argument("--keyframes", action="store_true", help="screen the keyframes only")
    parser.add_argument("--max-frames", type=int, help="screen at most this many frames")
    parser.add_argument("--start", type=float, default=0.0, help="start time (s)")
    parser.add_argument("--end", type=float, help="end time (s)")


def screen_options(args: argparse.Namespace) -> ScreenOptions:
    """The options `add_sampling_arguments` parsed, as the REST API takes them."""
    return ScreenOptions(
        every_n=args.every_n, fps=args.fps, frames=args.frames, keyframes=args.keyframes,
        max_frames=args.max_frames, start_s=args.start, end_s=args.end,
    )


def _screen(args: argparse.Namespace) -> int:
    options = screen_options(args).model_copy(update={"heatmap": args.heatmap})
    result = asyncio.run(_screen_file(_settings(args), args.video, options))
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print_report(result, Console())
    return 0


def print_report(result: ScreenResponse, console: Console) -> None:
    """A readable table of frames (and of their faces, for a face model), then the video
    summary and timings."""
    face_model = result.summary.frames_with_faces is not None
    heatmaps = any(f.heatmap for f in result.frames)
    table = Table(title=f"{result.model.name} {result.model.version}")
    columns = ("frame", "time (s)", "p_synthetic", *(("faces: p @ box (score)",) if face_model else ()),
               *(("looks most at",) if heatmaps else ()), "")
    for column in columns:
        table.add_column(column, justify="right" if column in columns[:3] else "left")
    for f in result.frames:
        p = "no face" if f.p_synthetic is None else f"{f.p_synthetic:.4f}"
        faces = ", ".join(
            f"{face.p_synthetic:.3f} @ ({', '.join(f'{v:.0f}' for v in face.box)}) ({face.score:.2f})"
            for face in f.faces or []
        )
        bar = "#" * round((f.p_synthetic or 0) * 20)
        table.add_row(str(f.index), f"{f.time_s:.3f}", p, *((faces,) if face_model else ()),
                      *((peak(f.heatmap),) if heatmaps else ()), bar)
    console.print(table)
    v, s, t = result.video, result.summary, result.timings
    console.print(
        f"video: {v.container} {v.codec} {v.width}x{v.height} @ {v.fps or 0:.2f} fps, "
        f"{v.frames_decoded} frames decoded, {v.frames_screened} screened"
        + (f", {s.frames_with_faces} with faces" if face_model else "")
    )
    if s.mean_p_synthetic is None:
        console.print(f"verdict: [bold]{s.verdict}[/bold] ({s.reason}: no screened frame has a face)")
    else:
        console.print(
            f"verdict: [bold]{s.verdict}[/bold] (mean p {s.mean_p_synthetic:.4f} vs threshold "
            f"{s.threshold}; max {s.max_p_synthetic:.4f}; {s.fraction_above_threshold:.1%} of frames above)"
        )
    console.print(f"provenance: {provenance_text(result.provenance)}")
    console.print(f"assessment: [bold]{result.assessment}[/bold]")
    detect = f"detector {t.detect_s:.3f} s, " if t.detect_s is not None else ""
    console.print(
        f"timings: decode {t.decode_s:.3f} s, queue {t.queue_s * 1000:.1f} ms/frame, {detect}"
        f"inference {t.inference_s:.3f} s, total {t.total_s:.3f} s, {t.frames_per_s:.1f} frames/s"
    )


def peak(heatmap: Heatmap | None) -> str:
    """Where a heatmap is highest: its top cell's centre, as fractions of the frame's width
    and height."""
    if not heatmap:
        return ""
    grid = np.asarray(heatmap)
    row, col = np.unravel_index(int(grid.argmax()), grid.shape)
    return f"x {(col + 0.5) / grid.shape[1]:.2f}, y {(row + 0.5) / grid.shape[0]:.2f}"


def provenance_text(provenance: Provenance | None) -> str:
    """One line of the upload's C2PA content credentials: status, signer, what they declare."""
    if provenance is None:
        return "not read (DISTILSCREEN_C2PA off)"
    parts = [provenance.status]
    if provenance.failures:
        parts.append(f"failures {', '.join(provenance.failures)}")
    if provenance.signer:
        parts.append(f"signed by {provenance.signer.common_name} ({provenance.signer.issuer})"
                     + (f" at {provenance.signer.signing_time}" if provenance.signer.signing_time else ""))
    if provenance.claim_generator:
        parts.append(f"made with {provenance.claim_generator}")
    if provenance.digital_source_type:
        parts.append(f"source {provenance.digital_source_type.name}"
                     + (" (AI-generated)" if provenance.ai_generated else ""))
    if provenance.remote_url:
        parts.append(f"remote manifest {provenance.remote_url} (not fetched)")
    if provenance.error:
        parts.append(provenance.error)
    return "; ".join(parts)


def _settings(args: argparse.Namespace) -> Settings:
    """Environment settings, with the command line's --model/--host/--port on top."""
    overrides = {
        k: v
        for k, v in {
            "model_path": args.model,
            "host": getattr(args, "host", None),
            "port": getattr(args, "port", None),
        }.items()
        if v is not None
    }
    return Settings(**overrides)


def _add_plugin_commands(commands: argparse._SubParsersAction, wanted: str | None) -> None:
    """Register the asked-for plugin command for real, the others as names in --help."""
    for entry in entry_points(group=COMMAND_GROUP):
        extra = PLUGIN_EXTRAS.get(entry.name, "train")
        if entry.name != wanted:
            what = "training" if extra == "train" else f"the {extra} extra"
            commands.add_parser(entry.name, help=f"{what}: see `distilscreen {entry.name} --help`")
            continue
        try:
            entry.load()(commands)
        except ImportError as exc:
            raise SystemExit(
                f"distilscreen: {entry.name} needs the {extra} extra (pip install '.[{extra}]'): {exc}"
            ) from exc


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distilscreen", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP service (settings: DISTILSCREEN_* env)")
    serve.add_argument("--model", type=Path, help="ONNX model (default: DISTILSCREEN_MODEL_PATH)")
    serve.add_argument("--host", help="bind address (default: DISTILSCREEN_HOST)")
    serve.add_argument("--port", type=int, help="port (default: DISTILSCREEN_PORT)")
    serve.set_defaults(func=_serve)

    screen = commands.add_parser("screen", help="screen a video file locally, without a server")
    screen.add_argument("video", type=Path)
    screen.add_argument("--model", type=Path, help="ONNX model (default: DISTILSCREEN_MODEL_PATH)")
    screen.add_argument("--json", action="store_true", help="print the JSON answer instead of a table")
    screen.add_argument("--heatmap", action="store_true",
                        help="where the model looks in each frame: a grid in the JSON, its peak in the table")
    add_sampling_arguments(screen)
    screen.set_defaults(func=_screen)

    words = [w for w in (sys.argv[1:] if argv is None else argv) if not w.startswith("-")]
    _add_plugin_commands(commands, words[0] if words else None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        return args.func(args)
    except (ScreenError, CardError, ValueError, FileNotFoundError) as exc:
        code = getattr(exc, "code", type(exc).__name__)
        print(f"distilscreen: error: {code}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
