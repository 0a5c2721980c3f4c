import argparse

import pytest

from training.data import load_dataset
from training.data.cli import add_parser, main, parse_size


def test_parse_size():
    assert parse_size("320x240") == (320, 240)
    assert parse_size("128") == (128, 128)
    with pytest.raises(argparse.ArgumentTypeError, match="expected WxH"):
        parse_size("big")


def test_add_parser_wires_data_synth():
    parser = argparse.ArgumentParser(prog="distilscreen")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["data", "synth", "out", "--videos", "10", "--seed", "3",
                              "--frames", "8", "--size", "96x64", "--difficulty", "0.7"])
    assert (args.out, args.videos, args.seed, args.frames, args.size, args.difficulty) == (
        "out", 10, 3, 8, (96, 64), 0.7)
    assert callable(args.func)


def test_synth_command_writes_a_dataset(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["synth", str(out), "--videos", "2", "--frames", "3", "--size", "32x32",
                 "--quiet"]) == 0
    assert "2 clips x 3 frames" in capsys.readouterr().out
    assert len(load_dataset(out)) == 2
    assert main(["synth", str(out), "--size", "33x32", "--quiet"]) == 2
    assert "size must be even" in capsys.readouterr().err


def test_synth_command_makes_face_clips(tmp_path, capsys):
    out = tmp_path / "faces"
    assert main(["synth", str(out), "--videos", "2", "--frames", "2", "--size", "96x96",
                 "--faces", "1", "--quiet"]) == 0
    assert "synth:authentic 1, synth:face_sbi 1" in capsys.readouterr().out
    assert {s.group.split("+")[0] for s in load_dataset(out)} <= {"face:astronaut", "face:grace_hopper"}
