"""One generic name -> builder registry for nets (teachers and students) and loss terms.

Families register builder functions with a decorator (timm-style)::

    @NETS.register("mobilenetv3_small_100")
    def mobilenetv3_small_100(**kwargs) -> MobileNetV3: ...

    net = NETS.build("mobilenetv3_small_100", num_classes=2)

Each registry names the modules that hold its entries and imports them on the first
lookup, so what `build` and `names` see never depends on which modules a caller happened
to import first. A duplicate name is an error (two families claiming one name is a bug,
not an override); an unknown name raises `UnknownNameError` listing the choices.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from training.losses.combined import LossTerm
    from training.nets.base import BinaryClassifier

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
                    f"{self.kind} {name!r} is already registered "
                    f"(by {taken.__module__}.{taken.__qualname__}); "
                    f"cannot register {builder.__module__}.{builder.__qualname__}"
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


NETS: Registry[BinaryClassifier] = Registry("net", modules=("training.nets",))
LOSSES: Registry[LossTerm] = Registry("loss term", modules=("training.losses.combined",))
