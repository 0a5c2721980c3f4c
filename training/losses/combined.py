"""The distillation objective: a weighted sum of named loss terms (torchdistill-style).

    loss = sum_i w_i * term_i(outputs)

Each term wraps one pure loss function of `kd`, `fitnets` or `attention` and reads what it
needs from a `DistillOutputs` (the tensors one training step produced); which layers feed
`student_features`/`teacher_features` is decided by the caller, not here. Terms are
registered in this family's registry `LOSSES` by name ("kd", "ce", "fitnets", "at") and are
`nn.Module`s, so trainable parts (the FitNets regressor) are in `WeightedSum.parameters()`.
A term's `from_run` names the parameters the run fills in (not options of the config's
loss spec, `training.losses.spec`); `needs_features` marks terms that read feature maps.
`str(loss)` prints the formula.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn

from training.losses.attention import attention_transfer_loss
from training.losses.fitnets import HintRegressor, hint_loss
from training.losses.kd import kd_divergence, labelled_cross_entropy
from training.registry import Registry


@dataclass(frozen=True)
class DistillOutputs:
    """What one step produced. `student_features[i]` is paired with `teacher_features[i]`."""

    student_logits: Tensor
    targets: Tensor | None = None
    teacher_probs: Tensor | None = None
    student_features: Sequence[Tensor] = ()
    teacher_features: Sequence[Tensor] = ()

    def require(self, field: str, term: str) -> Any:
        """The value of `field`, which loss term `term` cannot do without."""
        value = getattr(self, field)
        if value is None or (isinstance(value, Sequence) and len(value) == 0):
            raise ValueError(f"loss term {term!r} needs DistillOutputs.{field}, which is empty")
        return value


class LossTerm(nn.Module):
    """One named term; `formula` is how `WeightedSum` prints it. `from_run` maps each
    builder parameter the run supplies to where its value comes from."""

    formula: str
    from_run: ClassVar[Mapping[str, str]] = {}
    needs_features: ClassVar[bool] = False

    def forward(self, outputs: DistillOutputs) -> Tensor:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.formula


class KDTerm(LossTerm):
    """T^2 * KL(p_t^T || p_s^T) (Hinton et al. 2015): `kd.kd_divergence`. T is the soft
    targets' temperature, so the run passes `softlabels.temperature`."""

    from_run: ClassVar[Mapping[str, str]] = {
        "temperature": "softlabels.temperature (one T for the soft targets and this term; set that)"}

    def __init__(self, temperature: float) -> None:
        super().__init__()
        self.temperature = temperature
        self.formula = f"T^2 * KL(p_t^T || p_s^T) [T={temperature:g}]"

    def forward(self, outputs: DistillOutputs) -> Tensor:
        probs = outputs.require("teacher_probs", "kd")
        return kd_divergence(outputs.student_logits, probs, self.temperature)


class CETerm(LossTerm):
    """Cross-entropy on the hard labels, over the labelled items: `kd.labelled_cross_entropy`."""

    formula = "CE(y, p_s)"

    def forward(self, outputs: DistillOutputs) -> Tensor:
        return labelled_cross_entropy(outputs.student_logits, outputs.require("targets", "ce"))


class HintTerm(LossTerm):
    """FitNets hint (Romero et al. 2015) on feature pair `pair`: `fitnets.hint_loss`."""

    from_run: ClassVar[Mapping[str, str]] = {
        "student_channels": "the student net's last feature map",
        "teacher_channels": "the last feature map of students.hint_teacher"}
    needs_features = True

    def __init__(self, student_channels: int, teacher_channels: int, pair: int = -1) -> None:
        super().__init__()
        self.regressor = HintRegressor(student_channels, teacher_channels)
        self.pair = pair
        self.formula = f"MSE(r(F_s[{pair}]), F_t[{pair}])"

    def forward(self, outputs: DistillOutputs) -> Tensor:
        student = outputs.require("student_features", "fitnets")[self.pair]
        teacher = outputs.require("teacher_features", "fitnets")[self.pair]
        return hint_loss(self.regressor(student, teacher.shape[-2:]), teacher)


class ATTerm(LossTerm):
    """Attention transfer (Zagoruyko & Komodakis 2017), summed over feature pairs `pairs`
    (all if None): `attention.attention_transfer_loss`."""

    needs_features = True

    def __init__(
        self, beta: float = 1e3, p: float = 2.0, pairs: Sequence[int] | None = None
    ) -> None:
        super().__init__()
        self.beta, self.p = beta, p
        self.pairs = None if pairs is None else list(pairs)
        which = "j" if pairs is None else f"j in {self.pairs}"
        self.formula = (
            f"sum_{{{which}}} beta/2 * mean((a(F_s[j]) - a(F_t[j]))^2) [beta={beta:g}, p={p:g}]"
        )

    def forward(self, outputs: DistillOutputs) -> Tensor:
        students = outputs.require("student_features", "at")
        teachers = outputs.require("teacher_features", "at")
        if len(students) != len(teachers):
            raise ValueError(
                f"'at' pairs feature maps: got {len(students)} student and "
                f"{len(teachers)} teacher maps"
            )
        pairs = range(len(students)) if self.pairs is None else self.pairs
        losses = [
            attention_transfer_loss(students[j], teachers[j], self.beta, self.p) for j in pairs
        ]
        return sum(losses[1:], losses[0])


LOSSES: Registry[LossTerm] = Registry("loss term")
LOSSES.register("kd")(KDTerm)
LOSSES.register("ce")(CETerm)
LOSSES.register("fitnets")(HintTerm)
LOSSES.register("at")(ATTerm)


class WeightedSum(nn.Module):
    """loss = sum_i w_i * term_i; returns the total and each term's unweighted value."""

    def __init__(self, terms: Mapping[str, tuple[float, LossTerm]]) -> None:
        super().__init__()
        if not terms:
            raise ValueError("a weighted sum needs at least one term")
        self.weights = {name: float(weight) for name, (weight, _) in terms.items()}
        self.terms = nn.ModuleDict({name: term for name, (_, term) in terms.items()})

    def forward(self, outputs: DistillOutputs) -> tuple[Tensor, dict[str, float]]:
        """(total, {term name: unweighted value as a float, for logging})."""
        values = {name: term(outputs) for name, term in self.terms.items()}
        parts = [self.weights[name] * value for name, value in values.items()]
        return sum(parts[1:], parts[0]), {n: float(v.detach()) for n, v in values.items()}

    def __str__(self) -> str:
        total = " + ".join(f"{self.weights[name]:g} * {name}" for name in self.terms)
        width = max(len(name) for name in self.terms)
        lines = [f"  {name:>{width}} = {term}" for name, term in self.terms.items()]
        return "\n".join([f"loss = {total}", *lines])


def hinton(alpha: float, temperature: float) -> WeightedSum:
    """Hinton et al.'s loss as a weighted sum: a * kd + (1 - a) * ce."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return WeightedSum({"kd": (alpha, KDTerm(temperature)), "ce": (1.0 - alpha, CETerm())})
