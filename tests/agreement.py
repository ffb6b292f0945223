"""Helpers for comparing a NumPy layer with a PyTorch module on the same weights and inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def torch_forward_backward(module: torch.nn.Module, x: np.ndarray, grad_out: np.ndarray, **kwargs: Any):
    """Run a torch module on ``x``, backpropagate ``grad_out``; return output, dx and named grads."""
    module.zero_grad()
    floating = np.issubdtype(x.dtype, np.floating)
    xt = torch.tensor(x, requires_grad=floating)
    out = module(xt, **kwargs)
    out.backward(torch.from_numpy(grad_out))
    grads = {name: p.grad.detach().numpy().copy() for name, p in module.named_parameters() if p.grad is not None}
    dx = xt.grad.numpy().copy() if floating else None
    return out.detach().numpy(), dx, grads


def numpy_forward_backward(layer: Any, x: np.ndarray, grad_out: np.ndarray, **kwargs: Any):
    layer.zero_grad()
    out = layer(x, **kwargs)
    dx = layer.backward(grad_out)
    return out, dx, {name: p.grad.copy() for name, p in layer.named_parameters()}


def assert_same_pass(numpy_layer: Any, torch_module: torch.nn.Module, x: np.ndarray, rtol: float = 1e-10,
                     atol: float = 1e-12, **kwargs: Any) -> None:
    """Outputs, input gradient and every parameter gradient agree (float64)."""
    out_np = numpy_layer(x, **kwargs)
    grad_out = np.random.default_rng(99).standard_normal(out_np.shape)
    out_n, dx_n, grads_n = numpy_forward_backward(numpy_layer, x, grad_out, **kwargs)
    out_t, dx_t, grads_t = torch_forward_backward(torch_module, x, grad_out, **kwargs)
    np.testing.assert_allclose(out_n, out_t, rtol=rtol, atol=atol, err_msg="forward outputs differ")
    if dx_t is not None:
        np.testing.assert_allclose(dx_n, dx_t, rtol=rtol, atol=atol, err_msg="input gradients differ")
    assert set(grads_n) == set(grads_t), f"parameter names differ: {sorted(grads_n)} vs {sorted(grads_t)}"
    for name in grads_n:
        np.testing.assert_allclose(grads_n[name], grads_t[name], rtol=rtol, atol=atol,
                                   err_msg=f"gradient of '{name}' differs")
