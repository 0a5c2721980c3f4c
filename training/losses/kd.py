"""Knowledge distillation: Hinton, Vinyals, Dean 2015, "Distilling the Knowledge in a
Neural Network" (NIPS Deep Learning Workshop).

Notation: z_s student logits (N, C); p_t^T the teacher's probabilities at temperature T
(for an ensemble, the weighted mean of member probabilities at T, which is what the
soft-label cache stores); p_s^T = softmax(z_s / T); y the hard labels.

    L_KD = a * T^2 * KL(p_t^T || p_s^T) + (1 - a) * CE(y, p_s^1)

The T^2 factor keeps the soft term's gradient magnitude roughly independent of T:
dL/dz_s = T * (p_s^T - p_t^T) per sample (`kd_divergence`'s docstring). Batch reduction
is the mean over samples; CE's is the mean over the labelled ones (a label of -1 marks a
clip only the ensemble labelled, `labelled_cross_entropy`). The teacher side is a
constant (it is detached).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def teacher_probs(
    logits: Tensor, temperature: float, weights: Sequence[float] | Tensor | None = None
) -> Tensor:
    """Soft targets p_t^T from teacher logits.

    `logits` is (N, C) for one teacher or (M, N, C) for an ensemble of M members; the
    ensemble's target is sum_m w_m softmax(z_m / T) with `weights` (M,) normalised to sum
    to 1 (uniform if None). Returns (N, C) probabilities, detached."""
    _check_temperature(temperature)
    if logits.dim() == 2:
        logits = logits.unsqueeze(0)
    if logits.dim() != 3:
        raise ValueError(f"teacher logits must be (N, C) or (M, N, C), got {tuple(logits.shape)}")
    logits = logits.detach().to(torch.promote_types(logits.dtype, torch.float32))
    probs = F.softmax(logits / temperature, dim=-1)
    if weights is None:
        return probs.mean(0)
    w = torch.as_tensor(weights, dtype=probs.dtype, device=probs.device)
    if w.shape != (probs.shape[0],) or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise ValueError(
            f"weights must be {probs.shape[0]} non-negative numbers with a positive sum, "
            f"got {w.tolist()}"
        )
    return torch.einsum("m,mnc->nc", w / w.sum(), probs)


def kd_divergence(student_logits: Tensor, teacher_probs: Tensor, temperature: float) -> Tensor:
    """T^2 * mean_n KL(p_t^T || p_s^T), with KL(p || q) = sum_c p_c (log p_c - log q_c)
    and 0 log 0 = 0.

    Gradient wrt the student logits of sample n: T * (p_s^T - p_t^T) / N."""
    _check_temperature(temperature)
    _check_pair(student_logits, teacher_probs, "teacher_probs")
    log_ps = F.log_softmax(student_logits / temperature, dim=-1)
    pt = teacher_probs.detach().to(log_ps.dtype)
    kl = (torch.xlogy(pt, pt) - pt * log_ps).sum(-1)
    return temperature**2 * kl.mean()


def kd_loss(
    student_logits: Tensor,
    teacher_probs: Tensor,
    targets: Tensor,
    temperature: float,
    alpha: float,
) -> Tensor:
    """a * T^2 * KL(p_t^T || p_s^T) + (1 - a) * CE(y, p_s), both averaged over the batch.

    `targets` are class indices (N,). a = 1 is pure distillation, a = 0 plain
    cross-entropy on the labels."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    soft = kd_divergence(student_logits, teacher_probs, temperature)
    hard = labelled_cross_entropy(student_logits, targets)
    return alpha * soft + (1.0 - alpha) * hard


def labelled_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """CE(y, p_s) averaged over the items with a label (targets >= 0); items marked -1
    (unlabelled) add nothing, and a batch without a label gives 0 (still in the graph)."""
    labelled = targets >= 0
    if not bool(labelled.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[labelled], targets[labelled])


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def _check_pair(student: Tensor, teacher: Tensor, name: str) -> None:
    if student.dim() != 2 or student.shape != teacher.shape:
        raise ValueError(
            f"student logits must be (N, C) and {name} the same shape; "
            f"got {tuple(student.shape)} and {tuple(teacher.shape)}"
        )
