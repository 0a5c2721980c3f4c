"""training/registry.py: the generic registry; the families' registries (nets, loss terms, layouts)."""

import subprocess
import sys
from pathlib import Path

import pytest

from training import registry
from training.data import LAYOUTS
from training.losses import LOSSES
from training.nets import NETS
from training.registry import DuplicateNameError, Registry, UnknownNameError

ROOT = Path(__file__).resolve().parents[2]


def _fruit() -> Registry[str]:
    fruit: Registry[str] = Registry("fruit")

    @fruit.register("apple")
    def apple(colour: str = "red") -> str:
        return f"{colour} apple"

    fruit.register("pear")(lambda: "pear")
    return fruit


def test_build_calls_the_builder_with_kwargs() -> None:
    fruit = _fruit()
    assert fruit.build("apple") == "red apple"
    assert fruit.build("apple", colour="green") == "green apple"
    assert fruit.names() == ["apple", "pear"]
    assert "pear" in fruit and "plum" not in fruit


def test_register_returns_the_builder_unchanged() -> None:
    fruit: Registry[int] = Registry("number")

    def one() -> int:
        return 1

    assert fruit.register("one")(one) is one


def test_duplicate_name_raises_naming_both_builders() -> None:
    fruit = _fruit()
    with pytest.raises(DuplicateNameError, match=r"fruit 'apple' is already registered.*apple"):
        fruit.register("apple")(lambda: "another apple")
    assert fruit.build("apple") == "red apple"


def test_unknown_name_lists_the_choices_and_suggests_one() -> None:
    with pytest.raises(UnknownNameError) as info:
        _fruit().build("aple")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "unknown fruit 'aple'; did you mean 'apple'? choices: apple, pear"


def test_unknown_name_without_a_close_match() -> None:
    with pytest.raises(KeyError, match=r"^unknown fruit 'kiwi'; choices: apple, pear$"):
        _fruit().get("kiwi")


def test_modules_are_imported_once_before_the_first_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lazy: Registry[str] = Registry("lazy", modules=("some.module",))
    imported: list[str] = []

    def fake_import(name: str) -> None:
        imported.append(name)
        lazy.register("from_module")(lambda: "built")

    monkeypatch.setattr(registry.importlib, "import_module", fake_import)
    assert imported == []
    assert lazy.names() == ["from_module"]
    assert lazy.build("from_module") == "built"
    assert imported == ["some.module"]


def test_each_familys_registry_fills_itself_in_a_fresh_interpreter() -> None:
    code = (
        "from training.nets.base import NETS; from training.losses.combined import LOSSES; "
        "from training.data.readers.layouts import LAYOUTS; "
        "print(','.join(NETS.names())); print(','.join(LOSSES.names())); print(','.join(LAYOUTS.names()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [",".join(NETS.names()), ",".join(LOSSES.names()), ",".join(LAYOUTS.names())]


def test_global_registries_hold_every_family() -> None:
    assert NETS.names() == [
        "efficientnet_lite0",
        "mobilenetv2_100",
        "mobilenetv3_small_050",
        "mobilenetv3_small_100",
        "patchnet_m",
        "patchnet_s",
        "srm_resnet",
    ]
    assert LOSSES.names() == ["at", "ce", "fitnets", "kd"]
    assert LAYOUTS.names() == ["celebdf", "dfdc", "ffpp", "folder", "manifest", "media"]
