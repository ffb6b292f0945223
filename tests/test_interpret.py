"""bigmodel_lib.interpret: rollout, gradient x input and occlusion on models whose answers are known by hand."""

import numpy as np
import pytest
import torch
from torch import nn

from bigmodel_lib.interpret import attention_rollout, input_gradients, occlusion


def test_rollout_of_one_layer_mixes_in_the_identity():
    a = np.array([[1.0, 0.0], [0.25, 0.75]])
    np.testing.assert_allclose(attention_rollout([a]), 0.5 * np.eye(2) + 0.5 * a)
    np.testing.assert_allclose(attention_rollout([a], residual=0.0), a)


def test_rollout_multiplies_later_layers_on_the_left_and_averages_heads():
    rng = np.random.default_rng(0)
    layers = [rng.dirichlet(np.ones(4), size=(2, 4)) for _ in range(3)]  # 3 layers of (H=2, L=4, L=4)
    mixed = [0.5 * np.eye(4) + 0.5 * layer.mean(axis=0) for layer in layers]
    expected = mixed[2] @ mixed[1] @ mixed[0]
    result = attention_rollout([torch.from_numpy(layer) for layer in layers])
    np.testing.assert_allclose(result, expected)
    np.testing.assert_allclose(result.sum(axis=1), 1.0)


def test_rollout_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        attention_rollout([])
    with pytest.raises(ValueError, match="sum to 1"):
        attention_rollout([np.ones((3, 3))])
    with pytest.raises(ValueError, match="residual"):
        attention_rollout([np.eye(2)], residual=1.5)


class LinearScore(nn.Module):
    """f_k(ids) = sum_i w_ki . E[ids_i]: a model whose gradients are known in closed form."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(5, 3)
        self.weights = nn.Parameter(torch.randn(2, 4, 3))  # (K, S, E)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        e = self.embed(ids)  # (N, S, E)
        return torch.einsum("nse,kse->nk", e, self.weights)  # (N, K)


def test_gradient_x_input_of_a_linear_model_is_each_term_of_the_sum():
    model = LinearScore().double()
    ids = torch.tensor([1, 4, 0, 2])
    got = input_gradients(lambda: model(ids[None])[0], model.embed)
    e = model.embed(ids).detach()  # (S, E)
    expected = torch.einsum("se,kse->ks", e, model.weights.detach())  # every term of f_k
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got.sum(dim=1), model(ids[None])[0].detach())  # complete: terms sum to f_k
    norms = input_gradients(lambda: model(ids[None])[0], model.embed, method="grad_norm")
    torch.testing.assert_close(norms, model.weights.detach().norm(dim=-1))
    assert model.weights.grad is None  # the parameters were left alone


def test_input_gradients_rejects_misuse():
    model = LinearScore()
    ids = torch.tensor([1, 4, 0, 2])
    with pytest.raises(ValueError, match="method"):
        input_gradients(lambda: model(ids[None])[0], model.embed, method="integrated")
    with pytest.raises(ValueError, match="exactly once"):
        input_gradients(lambda: model(ids[None])[0] + model(ids[None])[0], model.embed)
    with pytest.raises(ValueError, match="batch of 1"):
        input_gradients(lambda: model(torch.stack([ids, ids]))[0], model.embed)


def test_occlusion_of_a_linear_model_matches_the_hand_computation():
    model = LinearScore().double()
    ids = torch.tensor([1, 4, 0, 2])
    replacements = [0, 3]
    got = occlusion(lambda batch: model(batch), ids, replacements)  # (S, K)
    table = torch.einsum("ve,kse->vsk", model.embed.weight, model.weights).detach()  # contribution of id v at s
    expected = torch.zeros(4, 2, dtype=torch.float64)
    for s in range(4):
        others = [r for r in replacements if r != int(ids[s])]
        expected[s] = table[int(ids[s]), s] - torch.stack([table[r, s] for r in others]).mean(dim=0)
    torch.testing.assert_close(got, expected)


def test_occlusion_positions_and_no_op_replacements():
    model = LinearScore().double()
    ids = torch.tensor([1, 4, 0, 2])
    got = occlusion(lambda batch: model(batch), ids, [0, 1, 3], positions=[1, 3])
    assert torch.all(got[[0, 2]] == 0)
    same = occlusion(lambda batch: model(batch), ids, [4], positions=[1])  # replacing 4 by 4 changes nothing
    assert torch.all(same == 0)
    with pytest.raises(ValueError, match="outside"):
        occlusion(lambda batch: model(batch), ids, [0], positions=[7])
    with pytest.raises(ValueError, match="empty"):
        occlusion(lambda batch: model(batch), ids, [])
