"""Training a student on a teacher's softened outputs: a drop-in step for :func:`lm_training.train_language_model`.

The loss itself (``alpha T^2 KL(p_teacher || p_student) + (1 - alpha) CE``, Hinton et al. 2015) is
``DistillationLoss`` in both model packages; this module only plugs it into the course's training loop, so a
distilled student sees exactly the batches, learning-rate schedule and clipping of a student trained alone.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from bigmodel_lib.lm_training import autocast, optimizer_step
from bigmodel_lib.nn_torch.losses import DistillationLoss

__all__ = ["distillation_step"]


def distillation_step(
    teacher: torch.nn.Module, temperature: float = 2.0, alpha: float = 0.5
) -> Callable[..., torch.Tensor]:
    """A ``step_fn`` for ``train_language_model``: one optimizer step of the student on ``DistillationLoss``.

    The teacher runs in ``eval()`` mode without gradients on the same ``x``; the student gets
    ``alpha T^2 KL + (1 - alpha) CE`` against ``y``. Returns the detached loss, as ``lm_training.train_step``.
    """
    loss_fn = DistillationLoss(temperature, alpha)
    teacher.eval()

    def step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *,
             grad_clip: float | None = 1.0, amp_dtype: torch.dtype | None = None) -> torch.Tensor:
        model.train()
        with autocast(x.device.type, amp_dtype):
            with torch.no_grad():
                teacher_logits = teacher(x)  # (B, T, V)
            student_logits = model(x)  # (B, T, V)
            loss = loss_fn(student_logits.float(), teacher_logits.float(), y)
        optimizer_step(model, optimizer, loss, grad_clip=grad_clip)
        return loss.detach()

    return step
