"""``distilscreen data ...``: dataset commands (``data synth`` writes the built-in benchmark).

``add_parser(subparsers)`` adds the ``data`` command to a parent parser's subparsers;
each leaf sets ``func`` to a handler taking the parsed namespace and returning an exit
code. ``python -m training.data.cli synth OUT ...`` runs it without the parent command.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from training.data.synth import FAMILIES, generate


def parse_size(text: str) -> tuple[int, int]:
    """"WxH" (or one number for a square) -> (width, height)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected WxH like 256x256, got {text!r}")
    width = int(match.group(1))
    return width, int(match.group(2) or width)


def parse_fractions(text: str) -> tuple[float, float, float]:
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or any(v < 0 for v in values) or sum(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected TRAIN,VAL,TEST like 0.7,0.15,0.15, "
                                         f"got {text!r}")
    return values  # type: ignore[return-value]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``data`` (with ``synth``) to ``subparsers``; returns the ``data`` parser."""
    data = subparsers.add_parser("data", help="dataset tools",
                                 description="Dataset tools: the built-in benchmark.")
    commands = data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    synth = commands.add_parser(
        "synth", help="generate the built-in synthetic-video benchmark",
        description="Write OUT/videos/*.mp4 and OUT/manifest.csv (path,label,split,group,"
                    "source): authentic clips from bundled photos and procedural scenes, "
                    f"synthetic clips from the manipulation families {', '.join(FAMILIES)}; "
                    "with --faces, face photos composited into scenes, half self-blended.")
    synth.add_argument("out", metavar="OUT", help="output folder")
    synth.add_argument("--videos", type=int, default=200, help="number of clips (200)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (0)")
    synth.add_argument("--frames", type=int, default=48, help="frames per clip (48)")
    synth.add_argument("--size", type=parse_size, default=(256, 256), metavar="WxH",
                       help="frame size, even numbers (256x256)")
    synth.add_argument("--difficulty", type=float, default=0.5,
                       help="0 (obvious edits) .. 1 (subtle edits, heavy compression); 0.5")
    synth.add_argument("--fractions", type=parse_fractions, default=(0.7, 0.15, 0.15),
                       metavar="TRAIN,VAL,TEST", help="split shares by group (0.7,0.15,0.15)")
    synth.add_argument("--families", default=",".join(FAMILIES),
                       help=f"comma-separated manipulation families ({','.join(FAMILIES)})")
    synth.add_argument("--faces", type=float, default=0.0,
                       help="share of the clips that are face clips, 0..1 (0)")
    synth.add_argument("--workers", type=int, default=1, help="processes (1)")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(func=run_synth)
    return data


def run_synth(args: argparse.Namespace) -> int:
    families = tuple(f.strip() for f in args.families.split(",") if f.strip())
    try:
        summary = generate(args.out, args.videos, seed=args.seed, size=args.size,
                           frames=args.frames, difficulty=args.difficulty,
                           fractions=args.fractions, families=families,
                           face_fraction=args.faces, workers=args.workers, progress=not args.quiet)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="distilscreen")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["data", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
