"""`students.loss` as a typed spec, validated with the config and built when the run starts
(`training.students.plan`), not when the students train.

    loss:
      kd: {weight: 0.9}                              # the registered term named like the entry
      ce: {weight: 0.1}
      at_deep: {weight: 1.0, term: at, pairs: [1]}   # a term under another name

Each entry names a registered term (`training.losses.combined.LOSSES`: the entry's `term`, else its
name), its `weight` and the options of the term's builder, checked against the builder's
signature: an unknown term or key, or a value of the wrong type, is an error naming the
entry and the choices. Parameters a term takes from the run (its builder's `from_run`: the
KD temperature is `softlabels.temperature`, the FitNets channel counts are the nets') are
refused as options. `LossSpec.build(**from_run)` makes the `WeightedSum`.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    FiniteFloat,
    RootModel,
    ValidationError,
    create_model,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from training.losses.combined import LOSSES, LossTerm, WeightedSum
from training.registry import UnknownNameError

RESERVED = ("weight", "term")  # an entry's keys that are not the builder's options


def _error(message: str) -> PydanticCustomError:
    """A validation error whose message is `message` as is."""
    return PydanticCustomError("loss_spec", "{message}", {"message": message})


def _from_run(builder: Callable[..., LossTerm]) -> Mapping[str, str]:
    return getattr(builder, "from_run", {})


@functools.cache
def options_model(builder: Callable[..., LossTerm]) -> type[BaseModel]:
    """A pydantic model of `builder`'s keyword parameters, less those the run supplies."""
    target = builder.__init__ if inspect.isclass(builder) else builder
    hints = typing.get_type_hints(target)
    fields: dict[str, Any] = {}
    for param in inspect.signature(builder).parameters.values():
        if param.name in _from_run(builder) or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.name in (*RESERVED, "options"):
            raise TypeError(f"{builder.__qualname__}: parameter {param.name!r} clashes with an entry key")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints.get(param.name, Any), default)
    return create_model(f"{builder.__name__}Options", __config__=ConfigDict(extra="forbid"), **fields)


def check_options(term: str, builder: Callable[..., LossTerm], options: Mapping[str, Any]) -> dict[str, Any]:
    """`options` validated against `builder`'s signature (the values as validated); a
    PydanticCustomError naming every problem otherwise."""
    model, supplied = options_model(builder), _from_run(builder)
    problems = [f"{key}={options[key]!r} is refused: loss term {term!r} takes {supplied[key]}"
                for key in options if key in supplied]
    unknown = sorted(set(options) - set(supplied) - set(model.model_fields))
    if unknown:
        problems.append(f"unknown key(s) {unknown}; choices: {', '.join([*RESERVED, *model.model_fields])}")
    if problems:
        raise _error("; ".join(problems))
    try:
        valid = model.model_validate(dict(options))
    except ValidationError as exc:
        raise _error("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    return {key: getattr(valid, key) for key in options}


class TermSpec(BaseModel):
    """One weighted term: the registered `term`, its `weight`, its builder's `options`
    (read from the entry's other keys, or from `options` when built in Python)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    term: str
    weight: FiniteFloat
    options: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        """`{term, weight, **options}` -> the fields, the term resolved and its options checked."""
        if not isinstance(data, Mapping):
            raise _error(f"a loss term is a mapping {{weight: W, ...}}, got {data!r}")
        term = data.get("term")
        if not isinstance(term, str):
            raise _error(f"term: the name of a registered loss term, got {term!r}")
        try:
            builder = LOSSES.get(term)
        except UnknownNameError as exc:
            raise _error(str(exc)) from None
        given = data.get("options") or {}
        if not isinstance(given, Mapping):
            raise _error(f"options: a mapping of the builder's keyword arguments, got {given!r}")
        options = dict(given) | {k: v for k, v in data.items() if k not in (*RESERVED, "options")}
        fields = {k: data[k] for k in RESERVED if k in data}
        return fields | {"options": check_options(term, builder, options)}

    @property
    def builder(self) -> Callable[..., LossTerm]:
        return LOSSES.get(self.term)


class LossSpec(RootModel[dict[str, TermSpec]]):
    """Entry name -> term, at least one; dumps as the mapping it was read from."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _name_terms(cls, data: Any) -> Any:
        """Each entry's `term` defaults to its name."""
        if isinstance(data, LossSpec):
            return data.root
        if not isinstance(data, Mapping) or not data:
            raise _error(f"a mapping of at least one loss term {{name: {{weight: W, ...}}}}, got {data!r}")
        return {name: {"term": name, **entry} if isinstance(entry, Mapping) else entry
                for name, entry in data.items()}

    @model_serializer
    def _flat(self) -> dict[str, dict[str, Any]]:
        return {name: {"weight": t.weight, **({} if t.term == name else {"term": t.term}), **t.options}
                for name, t in self.root.items()}

    def feature_terms(self) -> list[str]:
        """The entries whose term reads feature maps (they need a live hint teacher)."""
        return [name for name, t in self.root.items() if getattr(t.builder, "needs_features", False)]

    def build(self, **from_run: Any) -> WeightedSum:
        """The `WeightedSum`, each term given its options and what it takes from `from_run`."""
        terms = {}
        for name, spec in self.root.items():
            wanted = _from_run(spec.builder)
            missing = [key for key in wanted if from_run.get(key) is None]
            if missing:
                raise ValueError(f"loss term {name!r} needs {', '.join(missing)} from the run "
                                 f"({'; '.join(wanted[k] for k in missing)})")
            terms[name] = (spec.weight, spec.builder(**spec.options, **{k: from_run[k] for k in wanted}))
        return WeightedSum(terms)


def build_loss(spec: LossSpec | Mapping[str, Mapping[str, Any]], **from_run: Any) -> WeightedSum:
    """A `WeightedSum` from a spec (`{name: {"weight": w, **options}}`, validated as in the
    module docstring), e.g. `build_loss({"kd": {"weight": 0.9}, "ce": {"weight": 0.1}},
    temperature=4.0)`."""
    return LossSpec.model_validate(spec).build(**from_run)
