"""Bias add + activation + gain + clamp in one op (StyleGAN2's `bias_act`)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from stylegan.ops import _ext


@dataclass(frozen=True)
class Activation:
    func: Callable[[torch.Tensor, float], torch.Tensor]
    def_alpha: float
    def_gain: float
    cuda_id: int  # index used by the CUDA kernel


activation_funcs: dict[str, Activation] = {
    "linear": Activation(lambda x, a: x, 0.0, 1.0, 0),
    "relu": Activation(lambda x, a: torch.relu(x), 0.0, math.sqrt(2), 1),
    "lrelu": Activation(lambda x, a: torch.nn.functional.leaky_relu(x, a), 0.2, math.sqrt(2), 2),
}


def _bias_act_ref(x, b, dim, act, alpha, gain, clamp):
    if b is not None:
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = activation_funcs[act].func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


class _BiasActCuda(torch.autograd.Function):
    """Fused forward kernel; the backward is written in differentiable torch ops so that
    second-order gradients (R1, path length) work through it."""

    @staticmethod
    def forward(ctx, x, b, dim, act, alpha, gain, clamp, module):
        x = x.contiguous()
        b_ = b.contiguous() if b is not None else x.new_empty([0])
        y = module.bias_act(x, b_, dim, activation_funcs[act].cuda_id, alpha, gain, clamp)
        ctx.save_for_backward(x, b if b is not None else None)
        ctx.params = (dim, act, alpha, gain, clamp)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, b = ctx.saved_tensors
        dim, act, alpha, gain, clamp = ctx.params
        with torch.enable_grad():
            x_ = x.detach().requires_grad_(True)
            b_ = b.detach().requires_grad_(True) if b is not None else None
            y = _bias_act_ref(x_, b_, dim, act, alpha, gain, clamp)
            inputs = (x_, b_) if b_ is not None else (x_,)
            grads = torch.autograd.grad(y, inputs, dy, create_graph=torch.is_grad_enabled())
        db = grads[1] if b is not None else None
        return grads[0], db, None, None, None, None, None, None


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
    impl: str = "auto",
) -> torch.Tensor:
    """`clamp(act(x + b) * gain)`.

    Args:
        x: input of any shape, e.g. `[N, C, H, W]`.
        b: bias `[x.shape[dim]]` or None.
        dim: the dimension of `x` that `b` runs along.
        act: 'linear' | 'relu' | 'lrelu'.
        alpha: leaky slope (default 0.2 for lrelu).
        gain: output scale (default: the activation's, sqrt(2) for lrelu/relu, 1 for linear).
        clamp: clamp the output to [-clamp, clamp] when given.
        impl: 'auto' | 'ref' | 'cuda'.

    Returns:
        Tensor of the same shape and dtype as `x`.
    """
    if act not in activation_funcs:
        raise ValueError(f"unknown activation {act!r}; expected one of {sorted(activation_funcs)}")
    if b is not None and (b.ndim != 1 or b.shape[0] != x.shape[dim]):
        raise ValueError(f"bias must have shape [{x.shape[dim]}] (x.shape[{dim}]), got {list(b.shape)}")
    spec = activation_funcs[act]
    alpha = float(spec.def_alpha if alpha is None else alpha)
    gain = float(spec.def_gain if gain is None else gain)
    clamp = float(clamp if clamp is not None else -1)
    which, module = _ext.resolve(impl, x, "bias_act")
    if which == "cuda":
        return _BiasActCuda.apply(x, b, dim, act, alpha, gain, clamp, module)
    return _bias_act_ref(x, b, dim, act, alpha, gain, clamp)


class BiasAct(torch.nn.Module):
    """Module form of :func:`bias_act` with a learned bias `[channels]`."""

    def __init__(self, channels: int, act: str = "lrelu", gain: float | None = None, clamp: float | None = None):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(channels))
        self.act, self.gain, self.clamp = act, gain, clamp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bias_act(x, self.bias, act=self.act, gain=self.gain, clamp=self.clamp)
