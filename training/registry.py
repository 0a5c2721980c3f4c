"""One generic name -> builder registry; each family declares its own beside it (timm-style):
nets (teachers and students) in `training.nets.base.NETS`, loss terms in
`training.losses.combined.LOSSES`, dataset layouts in `training.data.readers.layouts.LAYOUTS`.

Families register builder functions with a decorator::

    @NETS.register("mobilenetv3_small_100")
    def mobilenetv3_small_100(**kwargs) -> MobileNetV3: ...

    net = NETS.build("mobilenetv3_small_100", num_classes=2)

A registry may name the modules that hold its entries and imports them on the first
lookup, so what `build` and `names` see never depends on which modules a caller happened
to import first. A duplicate name is an error (two families claiming one name is a bug,
not an override); an unknown name raises `UnknownNameError` listing the choices.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Builder = Callable[..., T]


class UnknownNameError(KeyError):
    """A lookup of a name nobody registered; the message lists the registered names."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class DuplicateNameError(ValueError):
    """A second builder registered under a name that is already taken."""


class Registry(Generic[T]):
    """Maps names to builder functions returning `T`."""

    def __init__(self, kind: str, modules: Sequence[str] = ()) -> None:
        self.kind = kind
        self._modules = tuple(modules)
        self._loaded = False
        self._builders: dict[str, Builder[T]] = {}

    def register(self, name: str) -> Callable[[Builder[T]], Builder[T]]:
        """Decorator registering `builder` under `name`; a taken name raises."""

        def decorator(builder: Builder[T]) -> Builder[T]:
            if name in self._builders:
                taken = self._builders[name]
                raise DuplicateNameError(
                    f"{self.kind} {name!r} is already registered (by {_qualified(taken)}); "
                    f"cannot register {_qualified(builder)}"
                )
            self._builders[name] = builder
            return builder

        return decorator

    def get(self, name: str) -> Builder[T]:
        """The builder registered under `name`."""
        self._load()
        try:
            return self._builders[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._builders, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ";"
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{hint} choices: {', '.join(self.names())}"
            ) from None

    def build(self, name: str, /, **kwargs: Any) -> T:
        """Call the builder registered under `name` with `kwargs`."""
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._builders)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._builders

    def _load(self) -> None:
        if not self._loaded:
            for module in self._modules:
                importlib.import_module(module)
            self._loaded = True


def _qualified(builder: Callable[..., Any]) -> str:
    """`module.name` of a builder function or class, or of a callable object's class."""
    named = builder if hasattr(builder, "__qualname__") else type(builder)
    return f"{named.__module__}.{named.__qualname__}"
