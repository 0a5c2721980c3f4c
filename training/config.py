"""Experiment configuration: one YAML file = one run, validated into frozen dataclasses.

`load_config(path_or_preset, overrides)` reads a YAML file (or a preset name from
`training/presets/`), applies `--set a.b=value` overrides (values parsed as YAML; list
items by index, `teachers.members.0.epochs=2`), and checks every key against the
dataclasses below: an unknown key is an error naming the key and the choices. Names are
resolved then too, before any stage runs: every net against `training.nets.NETS`, the
degradations' ranges and codecs (`degrade`, a `training.degrade.DegradeSpec`), the
student loss (`students.loss`, a `training.losses.LossSpec`) against the loss terms and
their builders' signatures, `students.export` and `students.hint_teacher` against the
students and teachers. A `ConfigError` holds one line per problem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from app.contract.card import Crop, FaceCrop, FrameCrop
from training.degrade.spec import DegradeSpec
from training.losses.spec import LossSpec
from training.nets import NETS
from training.registry import UnknownNameError

PRESETS = Path(__file__).parent / "presets"


def registered_net(name: str) -> str:
    """`name` if a net is registered under it; else the registry's error, listing the choices."""
    try:
        NETS.get(name)
    except UnknownNameError as exc:
        raise PydanticCustomError("unknown_name", "{message}", {"message": str(exc)}) from None
    return name


NetName = Annotated[str, AfterValidator(registered_net)]


class ConfigError(ValueError):
    """A config file or override that does not fit the schema; `problems` holds one line
    per broken rule."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class SynthSpec:
    """The built-in benchmark, generated into the run's data folder; `unlabelled` more
    clips (same settings, seed + 1) go to `RUN/unlabelled/` as `DataConfig.unlabelled`.
    `faces` is the share of clips that are face clips (real face photos composited into
    scenes, half of them self-blended; `training.data.synth.faces`)."""

    videos: int = 200
    frames: int = 24
    size: int = 160
    difficulty: float = 0.5
    seed: int = 0
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    unlabelled: int = 0
    faces: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.faces <= 1.0:
            raise ConfigError(f"config.data.synth.faces: a share of the clips in [0, 1], got {self.faces}")


@dataclass(frozen=True)
class DataConfig:
    """Where samples come from (a dataset `path`, else `synth`) and how frames are drawn.

    `unlabelled` is a folder of clips read with `unlabelled_layout` (default `media`: every
    video and image under it; any dataset layout works, its labels unread): the students fit
    them on the ensemble's soft labels alone (the teachers and the undistilled student never
    see them); clips of a group in val or test are dropped.

    `crop` is the card's crop spec (`app.contract.card`), validated as the service will: `frame`
    (the default: whole frames, resized) or `face` (`{kind: face, detector, size, margin,
    min_face_px, ...}`): every frame becomes its best face's crop, cut by the service's
    face stage (`training.data.faces`), and the exported card says so."""

    path: str | None = None
    layout: str = "auto"
    unlabelled: str | None = None
    unlabelled_layout: str = "media"
    synth: SynthSpec = SynthSpec()
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    frames_per_video: int = 8
    eval_frames_per_video: int = 8
    cache_dir: str | None = None
    crop: Crop = FrameCrop()


@dataclass(frozen=True)
class Recipe:
    """Optimiser schedule shared by a group of nets: AdamW with a one-cycle schedule (15%
    warm-up, then cosine decay; `training.loop.fit`)."""

    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01


@dataclass(frozen=True)
class TeacherSpec:
    """One ensemble member: a registry name, its builder kwargs and input size. With a
    `checkpoint` (a user's state dict) it is loaded, then trained for `epochs` (0: as is)."""

    name: NetName
    size: int = 128
    kwargs: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    weight: float = 1.0
    epochs: int | None = None
    lr: float | None = None


@dataclass(frozen=True)
class TeachersConfig(Recipe):
    """The ensemble's members and recipe. `holdout` (a fraction, by group) of the train
    split is kept from the teachers: the students still fit it, so the ensemble's soft
    labels there show how it judges clips it never saw, not what it memorised."""

    members: tuple[TeacherSpec, ...] = ()
    holdout: float = 0.0


@dataclass(frozen=True)
class SoftLabelConfig:
    """Ensemble soft targets at `temperature`, cached for `views` views (view 0 clean, the
    others augmented and, with `degrade`, degraded: each its own draw per clip). The
    `temperature` is the run's one T: the KD term (`students.loss.kd`) divides the
    student's logits by it and scales by its square."""

    temperature: float = 4.0
    views: int = 2

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ConfigError(f"config.softlabels.temperature: must be > 0, got {self.temperature}")


@dataclass(frozen=True)
class StudentSpec:
    """A student: a registry name and its input size."""

    name: NetName
    size: int = 128


@dataclass(frozen=True)
class StudentsConfig(Recipe):
    """Student recipe: `loss` a `training.losses.LossSpec` (`{kd: {weight: 0.9}, ce: {weight:
    0.1}}`; the KD term's T is `softlabels.temperature`); the same recipe with
    cross-entropy alone trains the undistilled baseline of the exported student (if
    `undistilled`). `hint_teacher` runs live for
    FitNets/AT terms. `export` names the student that becomes the model file.
    `frames_per_video` sizes the transfer set: students (distilled and undistilled) train
    on that many frames of each training video, all labelled by the ensemble (default:
    `data.frames_per_video`, the teachers' frames); more frames cost teacher inference
    only, not teacher training (Hinton et al. 2015, a larger transfer set).
    `random_flip` mirrors each student frame at random on every epoch, the soft label
    taken as mirror-invariant: without it a student sees the same transfer frames every
    epoch and learns them by heart."""

    nets: tuple[StudentSpec, ...] = ()
    frames_per_video: int | None = None
    random_flip: bool = False
    loss: LossSpec = field(
        default_factory=lambda: LossSpec.model_validate({"kd": {"weight": 0.9}, "ce": {"weight": 0.1}})
    )
    hint_teacher: str | None = None
    undistilled: bool = True
    export: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.loss, LossSpec):  # a mapping, given in Python
            object.__setattr__(self, "loss", LossSpec.model_validate(self.loss))


@dataclass(frozen=True)
class EvalConfig:
    speed_batch: int = 32
    speed_seconds: float = 1.0
    speed_rounds: int = 3
    robustness: bool = False


@dataclass(frozen=True)
class ExportConfig:
    name: str = "distilscreen-student"
    version: str = "0.1.0"
    fp16: bool = False
    int8: bool = False


@dataclass(frozen=True)
class Config:
    name: str
    seed: int = 0
    device: str = "auto"
    data: DataConfig = DataConfig()
    degrade: DegradeSpec = field(default_factory=DegradeSpec)
    teachers: TeachersConfig = TeachersConfig()
    softlabels: SoftLabelConfig = SoftLabelConfig()
    students: StudentsConfig = StudentsConfig()
    evaluation: EvalConfig = EvalConfig()
    export: ExportConfig = ExportConfig()

    def __post_init__(self) -> None:
        problems = [*net_problems(self), *student_problems(self.students, self.teachers)]
        crop, nets = self.data.crop, self.students.nets
        exported = [s for s in nets if s.name == (self.students.export or nets[0].name)] if nets else []
        if isinstance(crop, FaceCrop) and exported and exported[0].size != crop.size:
            problems.append(f"config.data.crop.size: {crop.size} must equal the exported "
                            f"student's input size ({exported[0].name}: {exported[0].size})")
        if problems:
            raise ConfigError(*problems)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def digest(self) -> str:
        """sha256 of the canonical JSON of the config (what the card calls config_hash)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def net_problems(config: Config) -> list[str]:
    """Each teacher kwarg that its net's builder does not take (the names are `NetName`s)."""
    problems = []
    for i, member in enumerate(config.teachers.members):
        params = inspect.signature(NETS.get(member.name)).parameters
        unknown = sorted(set(member.kwargs) - set(params))
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            problems.append(f"config.teachers.members[{i}].kwargs: unknown key(s) {unknown} for net "
                            f"{member.name!r}; choices: {', '.join(params)}")
    return problems


def student_problems(students: StudentsConfig, teachers: TeachersConfig) -> list[str]:
    """`export` must name a student, `hint_teacher` a teacher (by its key), and feature
    terms of the loss need the hint teacher."""
    from training.teachers.members import member_keys  # the teachers' folder names

    problems, names, keys = [], [s.name for s in students.nets], member_keys(teachers)
    teacher_choices = ", ".join(keys) or "(no teachers.members)"
    if students.export is not None and students.export not in names:
        problems.append(f"config.students.export: {students.export!r} is not a student; choices: "
                        f"{', '.join(names) or '(no students.nets)'}")
    if students.hint_teacher is not None and students.hint_teacher not in keys:
        problems.append(f"config.students.hint_teacher: {students.hint_teacher!r} is not a teacher; "
                        f"choices: {teacher_choices}")
    for name in students.loss.feature_terms() if students.hint_teacher is None else ():
        problems.append(f"config.students.loss.{name}: loss term {students.loss.root[name].term!r} reads "
                        f"feature maps and needs students.hint_teacher (choices: {teacher_choices})")
    return problems


def resolve_source(name_or_path: str | Path) -> Path:
    """A YAML path as given, or `training/presets/NAME.yaml` for a preset name."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        return path
    preset = PRESETS / f"{name_or_path}.yaml"
    if not preset.is_file():
        choices = ", ".join(sorted(p.stem for p in PRESETS.glob("*.yaml")))
        raise ConfigError(f"{name_or_path!r} is neither a YAML file nor a preset ({choices})")
    return preset


def load_config(name_or_path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate a config (see the module docstring)."""
    raw = yaml.safe_load(resolve_source(name_or_path).read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{name_or_path}: the top level must be a mapping")
    raw.pop("provenance", None)  # written beside a run's outputs; not an input
    for item in overrides:
        apply_override(raw, item)
    return from_dict(Config, raw, "config")


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set `a.b.c=value` in the nested dict `raw` (creating mappings on the way)."""
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override must look like key.path=value, got {item!r}")
    *parents, last = key.strip().split(".")
    node: Any = raw
    for part in parents:
        node = node[_index(part, node, key)] if isinstance(node, list) else node.setdefault(part, {})
    value = yaml.safe_load(text)
    if isinstance(node, list):
        node[_index(last, node, key)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"override {key!r}: {'.'.join(parents)} is not a mapping or list")


def _index(part: str, items: list, key: str) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise ConfigError(f"override {key!r}: {part!r} is not an index below {len(items)}")
    return int(part)


def from_dict(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from a mapping, checking keys and converting nested types."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    problems = [f"{where}: unknown key(s) {unknown}; choices: {', '.join(fields)}"] if unknown else []
    hints = typing.get_type_hints(cls, include_extras=True)
    kwargs = {}
    for key, value in data.items():
        try:
            if key in fields:
                kwargs[key] = _convert(hints[key], value, f"{where}.{key}")
        except ConfigError as exc:  # every field's problems, not just the first
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(*problems)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated or (isinstance(hint, type) and issubclass(hint, BaseModel)):
        return _validate(hint, value, where)  # a type of the service's card (data.crop), the loss
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0]
        fixed = len(args) != 2 or args[1] is not Ellipsis
        if fixed and len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} items, got {value!r}")
        return tuple(_convert(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and type(value) is not hint:
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _validate(hint: Any, value: Any, where: str) -> Any:
    """`value` as pydantic type `hint`; errors name each field under `where`."""
    try:
        return TypeAdapter(hint).validate_python(value)
    except ValidationError as exc:
        tag = value.get("kind") if isinstance(value, Mapping) else None
        lines = []
        for error in exc.errors():
            loc = list(error["loc"])
            if loc and loc[0] == tag:  # a tagged union's errors start with the tag
                loc = loc[1:]
            lines.append(f"{'.'.join([where, *map(str, loc)])}: {error['msg']}")
        raise ConfigError(*lines) from None


def _plain(value: Any) -> Any:
    """Tuples -> lists and card models -> mappings, recursively, so the dict dumps as
    plain YAML."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
