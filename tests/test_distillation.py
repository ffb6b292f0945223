"""DistillationLoss (Hinton et al., 2015) in both packages: gradient, agreement, limits, and the training step."""

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib.compression.distillation import distillation_step
from bigmodel_lib.gradcheck import check_gradients
from bigmodel_lib.lm_training import TrainConfig, train_language_model
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig

KNOBS = [(1.0, 0.0), (1.0, 0.5), (2.0, 0.5), (4.0, 0.9), (3.0, 1.0)]


def logits(seed=0, shape=(2, 5, 7)):
    rng = np.random.default_rng(seed)
    return 2.0 * rng.normal(size=shape), 2.0 * rng.normal(size=shape), rng.integers(0, shape[-1], shape[:-1])


@pytest.mark.parametrize(("temperature", "alpha"), KNOBS)
def test_numpy_gradient_matches_finite_differences(temperature, alpha):
    student, teacher, target = logits()
    check_gradients(nn_numpy.DistillationLoss(temperature, alpha), student, teacher, target, wrt=(0,))


@pytest.mark.parametrize(("temperature", "alpha"), KNOBS)
def test_numpy_equals_torch_in_float64_value_and_gradient(temperature, alpha):
    student, teacher, target = logits(1)
    ours = nn_numpy.DistillationLoss(temperature, alpha)
    value = ours(student, teacher, target)
    grad = ours.backward()
    s = torch.tensor(student, requires_grad=True)
    theirs = nn_torch.DistillationLoss(temperature, alpha)(s, torch.tensor(teacher), torch.tensor(target))
    theirs.backward()
    assert abs(float(value) - theirs.item()) < 1e-12
    np.testing.assert_allclose(grad, s.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_temperature_one_alpha_zero_is_plain_cross_entropy():
    student, teacher, target = logits(2)
    ce = nn_numpy.CrossEntropyLoss()(student, target)
    assert abs(float(nn_numpy.DistillationLoss(1.0, 0.0)(student, teacher, target)) - float(ce)) < 1e-14
    t = torch.tensor(student)
    torch_ce = nn_torch.CrossEntropyLoss()(t, torch.tensor(target))
    assert abs(nn_torch.DistillationLoss(1.0, 0.0)(t, torch.tensor(teacher), torch.tensor(target)).item()
               - torch_ce.item()) < 1e-14


def test_soft_term_is_t_squared_times_kl_teacher_to_student():
    student, teacher, target = logits(3)
    temperature = 3.0
    p = np.exp(teacher / temperature) / np.exp(teacher / temperature).sum(-1, keepdims=True)
    q = np.exp(student / temperature) / np.exp(student / temperature).sum(-1, keepdims=True)
    kl = np.sum(p * np.log(p / q)) / (student.size // student.shape[-1])  # KL(p || q), mean over positions
    value = nn_numpy.DistillationLoss(temperature, 1.0)(student, teacher, target)
    assert abs(float(value) - temperature**2 * kl) < 1e-12
    # the student equal to the teacher: zero soft loss and zero soft gradient
    same = nn_numpy.DistillationLoss(temperature, 1.0)
    assert abs(float(same(teacher, teacher, target))) < 1e-12
    assert np.abs(same.backward()).max() < 1e-15


def test_t_squared_keeps_the_soft_gradient_size_at_high_temperature():
    student, teacher, target = logits(4, (64, 10))
    sizes = []
    for temperature in (4.0, 8.0, 16.0, 32.0):
        loss = nn_numpy.DistillationLoss(temperature, 1.0)
        loss(student, teacher, target)
        sizes.append(np.abs(loss.backward()).sum())
    assert max(sizes) / min(sizes) < 1.1  # with T^2: about constant (without it: falls as 1 / T^2)


def test_float32_stays_float32_and_bad_knobs_are_refused():
    student, teacher, target = (a.astype(np.float32) if a.dtype.kind == "f" else a for a in logits())
    loss = nn_numpy.DistillationLoss(2.0, 0.5)
    assert loss(student, teacher, target).dtype == np.float32
    assert loss.backward().dtype == np.float32
    for package in (nn_numpy, nn_torch):
        with pytest.raises(ValueError, match="temperature"):
            package.DistillationLoss(0.0, 0.5)
        with pytest.raises(ValueError, match="alpha"):
            package.DistillationLoss(2.0, 1.5)
    with pytest.raises(ValueError, match="teacher_logits"):
        nn_numpy.DistillationLoss()(student, teacher[:, :3], target)
    with pytest.raises(ValueError, match="target"):
        nn_torch.DistillationLoss()(torch.tensor(student), torch.tensor(teacher), torch.tensor(target[:, :3]))


def test_distillation_step_trains_the_student_and_leaves_the_teacher_alone():
    torch.manual_seed(0)
    data = torch.randint(0, 12, (600,))
    teacher = GPT(GPTConfig(vocab_size=12, block_size=16, n_layer=1, n_head=2, d_model=16))
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = GPT(GPTConfig(vocab_size=12, block_size=16, n_layer=1, n_head=2, d_model=8))
    optimizer = student.configure_optimizer(1e-2)
    config = TrainConfig(steps=30, batch_size=8, block_size=16, warmup_steps=5, eval_every=30, eval_batches=2)
    history = train_language_model(student, optimizer, data, data, config,
                                   step_fn=distillation_step(teacher, 2.0, 0.5), progress=False)
    assert history.train_loss[-1] < history.train_loss[0]
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert all(p.grad is None for p in teacher.parameters())
