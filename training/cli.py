"""`distilscreen distill | evaluate | export`: the training pipeline's commands.

Each `add_*_parser(subparsers)` is an entry point of the `distilscreen.commands` group
(named after its subcommand); the handlers import torch only when they run, so
`distilscreen --help` stays light. `python -m training.cli distill smoke --out runs/x`
runs them without the parent command.

    distilscreen distill CONFIG_OR_PRESET [--set key.path=value ...] [--out RUN] [--resume]
    distilscreen evaluate RUN
    distilscreen export RUN [--to models/NAME.onnx]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning
# threads made training 10-100x slower whenever another process held a core.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

Subparsers = argparse._SubParsersAction


def add_distill_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "distill", help="train teachers, distil students, evaluate, export (one run)",
        description="Run the pipeline of one experiment config: data -> teachers -> soft "
                    "labels -> students -> calibration -> evaluation -> export.")
    parser.add_argument("config", metavar="CONFIG_OR_PRESET",
                        help="a YAML file, or a preset name (smoke, default)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a field, e.g. students.epochs=3")
    parser.add_argument("--out", type=Path, help="run folder (default runs/<config name>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out, skipping finished stages")
    parser.set_defaults(func=run_distill)
    return parser


def add_evaluate_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("evaluate", help="re-print and re-save a run's report",
                                   description="Rebuild RUN/report.{json,md} and the plots "
                                               "from the run's saved predictions and figures.")
    parser.add_argument("run", type=Path, metavar="RUN")
    parser.set_defaults(func=run_evaluate)
    return parser


def add_export_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("export", help="copy a run's model file for serving",
                                   description="Copy RUN/model.onnx (calibrated, with its "
                                               "card) to --to.")
    parser.add_argument("run", type=Path, metavar="RUN")
    parser.add_argument("--to", type=Path, help="destination (default models/<card name>.onnx)")
    parser.set_defaults(func=run_export)
    return parser


def run_distill(args: argparse.Namespace) -> int:
    from training.config import load_config
    from training.pipeline import run_pipeline

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("training").setLevel(logging.INFO)
    config = load_config(args.config, args.overrides)
    out = args.out or Path("runs") / config.name
    started = time.perf_counter()
    model = run_pipeline(config, out, resume=args.resume)
    print(f"model: {model} (run {out}, {time.perf_counter() - started:.1f} s)")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from training.evaluation import write_run_report

    write_run_report(args.run)
    print(f"wrote {args.run / 'report.md'} and {args.run / 'report.json'}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from training.evaluation import copy_model
    from training.pipeline import load_run_config

    config, _ = load_run_config(args.run)
    to = args.to or Path("models") / f"{config.export.name}.onnx"
    print(f"wrote {copy_model(args.run, to)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.cli")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_distill_parser, add_evaluate_parser, add_export_parser):
        add(commands)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:  # config, run folder and data errors
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
