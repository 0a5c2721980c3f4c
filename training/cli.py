"""`distilscreen distill | evaluate | export | card`: the training pipeline's commands.

Each `add_*_parser(subparsers)` is an entry point of the `distilscreen.commands` group
(named after its subcommand); the handlers import torch only when they run, so
`distilscreen --help` stays light. `python -m training.cli distill smoke --out runs/x`
runs them without the parent command.

    distilscreen distill CONFIG_OR_PRESET [--set key.path=value ...] [--out RUN] [--resume]
                         [--nproc N] [--timeout S] [--stage-timeout S]
    torchrun --standalone --nproc-per-node N $(which distilscreen) distill ...   (the same, DDP)
    distilscreen evaluate RUN
    distilscreen export RUN [--to models/NAME.onnx]
    distilscreen export --checkpoint model.pt --arch NAME --size PX [--to OUT.onnx] [--crop face ...]
    distilscreen card attach MODEL.onnx --out OUT.onnx [--crop face ...] [--check-synthetic IMAGE]
    distilscreen card show MODEL.onnx

A command that cannot start (a config that does not validate, an unknown name, a missing
run folder) prints one `error:` line per problem and exits with code 2; `distill` validates
its whole config, every name resolved, before any stage runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from pydantic import ValidationError

from training.registry import UnknownNameError

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning
# threads made training 10-100x slower whenever another process held a core.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

Subparsers = argparse._SubParsersAction
FACE_OPTIONS = ("margin", "square", "min_face_px", "max_faces", "combine")
CARD_OPTIONS = ("name", "version", "crop", "temperature", "threshold", *FACE_OPTIONS)  # _add_card_options


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
    ddp = parser.add_argument_group("several processes (DistributedDataParallel)")
    ddp.add_argument("--nproc", type=_count, default=1, metavar="N",
                     help="run on N processes on this machine: torchrun --standalone "
                          "--nproc-per-node N (gloo on the CPU, NCCL on CUDA; default 1)")
    ddp.add_argument("--timeout", type=float, default=1800.0, metavar="S",
                     help="under torchrun: the most seconds a collective waits for the other "
                          "ranks before the job fails (default 1800)")
    ddp.add_argument("--stage-timeout", type=float, default=43200.0, metavar="S",
                     help="under torchrun: the most seconds the other ranks wait while rank 0 "
                          "alone builds the data caches or the soft labels (default 43200)")
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
    parser = subparsers.add_parser(
        "export", help="copy a run's model file, or export a checkpoint, for serving",
        description="Copy RUN/model.onnx (calibrated, with its card) to --to; or export "
                    "--checkpoint (a state dict of the registered net --arch) with its card, "
                    "checked against torch on real photos.")
    parser.add_argument("run", type=Path, metavar="RUN", nargs="?")
    parser.add_argument("--to", type=Path, help="destination (default models/<card name>.onnx)")
    checkpoint = parser.add_argument_group("a checkpoint instead of a run")
    checkpoint.add_argument("--checkpoint", type=Path, help="torch state dict (.pt)")
    checkpoint.add_argument("--arch", help="registered net the state dict is for, e.g. patchnet_s")
    checkpoint.add_argument("--size", type=int, help="input height and width, pixels")
    _add_card_options(checkpoint)
    parser.set_defaults(func=run_export)
    return parser


def add_card_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("card", help="attach a model card to an ONNX classifier, or show one")
    commands = parser.add_subparsers(dest="card_command", required=True, metavar="COMMAND")
    attach = commands.add_parser(
        "attach", help="card an ONNX classifier made elsewhere, so the service serves it",
        description="Write MODEL with a card to --out, after checking it: the card validates, "
                    "the service's engine loads it, two real photos (cut as the card says) "
                    "give finite (2, 2) logits, and the --check images score on their side "
                    "of the threshold. Unset input fields are read from the graph.")
    attach.add_argument("model", type=Path, metavar="MODEL")
    attach.add_argument("--out", type=Path, required=True, help="the carded file (may be MODEL)")
    spec = attach.add_argument_group("input (default: read from the graph)")
    spec.add_argument("--input", dest="input_name", help="input tensor (default: the only input)")
    spec.add_argument("--layout", choices=["NCHW", "NHWC"], help="default: where the 3 channels are")
    spec.add_argument("--size", type=int, help="input height and width (default: the graph's)")
    spec.add_argument("--height", type=int, help="input height (default: --size, or the graph's)")
    spec.add_argument("--width", type=int, help="input width (default: --size, or the graph's)")
    spec.add_argument("--color", choices=["RGB", "BGR"], help="channel order (default RGB)")
    spec.add_argument("--scale", type=_number, help="float input: x = (pixel * scale - mean) / std "
                                                    "(default 1/255)")
    spec.add_argument("--mean", type=_triple, help="float input, per channel (default ImageNet's "
                                                   "0.485,0.456,0.406)")
    spec.add_argument("--std", type=_triple, help="float input (default ImageNet's 0.229,0.224,0.225)")
    output = attach.add_argument_group("output")
    output.add_argument("--logits", help="logits tensor (default: the only output)")
    output.add_argument("--classes", type=_pair, help="class order of the logits (default "
                                                      "authentic,synthetic)")
    _add_card_options(attach.add_argument_group("card"))
    checks = attach.add_argument_group("class-order checks")
    checks.add_argument("--check-synthetic", type=Path, metavar="IMAGE",
                        help="a known synthetic image: must score at or above the threshold")
    checks.add_argument("--check-authentic", type=Path, metavar="IMAGE",
                        help="a known authentic image: must score below the threshold")
    attach.set_defaults(func=run_card_attach)
    show = commands.add_parser("show", help="print the card of an ONNX file (validated) as JSON")
    show.add_argument("model", type=Path, metavar="MODEL")
    show.set_defaults(func=run_card_show)
    return parser


def _add_card_options(parser: argparse._ActionsContainer) -> None:
    """The card fields a model file does not tell: name, version, crop and calibration."""
    parser.add_argument("--name", help="card name (default: the file's stem)")
    parser.add_argument("--version", help="card version (default 1)")
    parser.add_argument("--crop", choices=["frame", "face"],
                        help="frame: the whole frame resized (default); face: each face found "
                             "by blazeface_full_range, cut at the input size")
    parser.add_argument("--margin", type=float, help="face crop: box scale about its centre (default 1.3)")
    parser.add_argument("--square", action=argparse.BooleanOptionalAction,
                        help="face crop: square the box first (default yes)")
    parser.add_argument("--min-face-px", type=int, help="face crop: smallest face screened (default 40)")
    parser.add_argument("--max-faces", type=int, help="face crop: most faces per frame (default 8)")
    parser.add_argument("--combine", choices=["max", "mean"],
                        help="face crop: a frame's p from its faces' (default max)")
    parser.add_argument("--temperature", type=float, help="logits are divided by it (default 1)")
    parser.add_argument("--threshold", type=float, help="decision threshold on p_synthetic (default 0.5)")


def _number(text: str) -> float:
    """A float, or a fraction such as 1/255."""
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError) as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc


def _count(text: str) -> int:
    """A whole number >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a number of processes >= 1, got {text!r}")
    return int(text)


def _triple(text: str) -> tuple[float, float, float]:
    values = tuple(_number(v) for v in text.split(","))
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"give 3 comma-separated values (R,G,B order), got {text!r}")
    return values


def _pair(text: str) -> tuple[str, str]:
    values = tuple(v.strip() for v in text.split(","))
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"give 2 comma-separated class names, got {text!r}")
    return values


def run_distill(args: argparse.Namespace) -> int:
    from torch.distributed.elastic.multiprocessing.errors import record

    from training.config import load_config
    from training.distributed import Timeouts, World, joined
    from training.pipeline import run_pipeline
    from training.run import check_world, pick_device

    world = World.from_env()  # force: onnxruntime's modules call basicConfig when imported
    logging.basicConfig(level=logging.WARNING, force=True,
                        format=f"%(asctime)s {world.tag}%(levelname)s %(name)s: %(message)s")
    logging.getLogger("training").setLevel(logging.INFO)
    config = load_config(args.config, args.overrides)
    out = args.out or Path("runs") / config.name
    if args.nproc > 1 and world.size == 1:
        check_world(config, args.nproc)
        return launch(args, out)

    @record  # under torchrun, a rank's exception goes into the job's error report
    def distill() -> int:
        started = time.perf_counter()
        with joined(pick_device(config.device), Timeouts(args.timeout, args.stage_timeout)):
            model = run_pipeline(config, out, resume=args.resume)
        if model is not None:
            print(f"model: {model} (run {out}, {time.perf_counter() - started:.1f} s)")
        return 0

    return distill()


def launch(args: argparse.Namespace, out: Path) -> int:
    """`distill` on `args.nproc` processes of this machine under torchrun (`--standalone`: a
    free port of its own); the job's exit code."""
    argv = [args.config, "--out", str(out), *(f"--set={item}" for item in args.overrides),
            *(["--resume"] if args.resume else []), f"--timeout={args.timeout}",
            f"--stage-timeout={args.stage_timeout}"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc-per-node={args.nproc}", "-m", "training.cli", "distill"]
    return subprocess.run(torchrun + argv, check=False).returncode


def run_evaluate(args: argparse.Namespace) -> int:
    from training.report.stage import write_run_report

    write_run_report(args.run)
    print(f"wrote {args.run / 'report.md'} and {args.run / 'report.json'}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    if args.checkpoint is not None:
        return _export_checkpoint(args)
    from training.export.stage import copy_model
    from training.run import load_run_config

    given = [f"--{k.replace('_', '-')}" for k in _given(args, ("arch", "size", *CARD_OPTIONS))]
    if args.run is None or given:
        raise ValueError("export takes RUN (copied as is) or --checkpoint with --arch and --size"
                         + (f"; {', '.join(given)} apply only to --checkpoint" if given else ""))
    config, _ = load_run_config(args.run)
    to = args.to or Path("models") / f"{config.export.name}.onnx"
    print(f"wrote {copy_model(args.run, to)}")
    return 0


def _export_checkpoint(args: argparse.Namespace) -> int:
    from app.contract.card import Calibration
    from training.export.attach import make_crop
    from training.export.checkpoint import export_checkpoint

    if args.run is not None or args.arch is None or args.size is None:
        raise ValueError("export --checkpoint needs --arch and --size, and no RUN")
    to = args.to or Path("models") / f"{args.name or args.checkpoint.stem}.onnx"
    card = export_checkpoint(
        args.checkpoint, args.arch, args.size, to, **_given(args, ("name", "version")),
        crop=make_crop(args.checkpoint, args.crop or "frame", _given(args, FACE_OPTIONS), args.size),
        calibration=Calibration(**_given(args, ("temperature", "threshold"))),
    )
    print(f"wrote {to}: {card.name} {card.version}, {args.arch} at {args.size} px, crop {card.crop.kind}")
    return 0


def run_card_attach(args: argparse.Namespace) -> int:
    from training.export.attach import attach

    options = _given(args, ("input_name", "layout", "color", "scale", "mean", "std", "logits", "classes",
                            "check_synthetic", "check_authentic", *CARD_OPTIONS))
    height, width = args.height or args.size, args.width or args.size
    print(attach(args.model, args.out, height=height, width=width, **options).summary())
    return 0


def run_card_show(args: argparse.Namespace) -> int:
    import onnx

    from training.modelfile.cardfile import read_card

    if not args.model.is_file():
        raise FileNotFoundError(f"{args.model}: model file not found")
    card = read_card(onnx.load(args.model, load_external_data=False), str(args.model))
    print(card.model_dump_json(indent=2))
    return 0


def _given(args: argparse.Namespace, names: Sequence[str]) -> dict[str, object]:
    """The options among `names` given on the command line (the callee's defaults apply to the rest)."""
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.cli")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_distill_parser, add_evaluate_parser, add_export_parser, add_card_parser):
        add(commands)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, UnknownNameError) as exc:  # config, run folder and data errors
        for line in problems(exc):
            print(f"error: {line}", file=sys.stderr)
        return 2


def problems(exc: BaseException) -> list[str]:
    """One line per problem: a pydantic `ValidationError`'s (field: message), a
    `training.config.ConfigError`'s (its `problems`), else the message on one line."""
    if isinstance(exc, ValidationError):
        return [f"{'.'.join(map(str, e['loc'])) or exc.title}: {e['msg']}" for e in exc.errors()]
    return list(getattr(exc, "problems", ())) or [" ".join(str(exc).split())]


if __name__ == "__main__":
    sys.exit(main())
