"""Distillation losses: pure functions of tensors (`kd`, `fitnets`, `attention`) and their
composition as a weighted sum of registered terms (`combined`), built from the config's
validated loss spec (`spec`)."""

from training.losses.attention import attention_map, attention_transfer_loss
from training.losses.combined import (
    LOSSES,
    ATTerm,
    CETerm,
    DistillOutputs,
    HintTerm,
    KDTerm,
    LossTerm,
    WeightedSum,
    hinton,
)
from training.losses.fitnets import HintRegressor, hint_loss
from training.losses.kd import kd_divergence, kd_loss, labelled_cross_entropy, teacher_probs
from training.losses.spec import LossSpec, TermSpec, build_loss

__all__ = [
    "ATTerm",
    "CETerm",
    "DistillOutputs",
    "HintRegressor",
    "HintTerm",
    "KDTerm",
    "LOSSES",
    "LossSpec",
    "LossTerm",
    "TermSpec",
    "WeightedSum",
    "attention_map",
    "attention_transfer_loss",
    "build_loss",
    "hint_loss",
    "hinton",
    "kd_divergence",
    "kd_loss",
    "labelled_cross_entropy",
    "teacher_probs",
]
