"""Fused StyleGAN2 ops. Each op has a pure-PyTorch reference (the specification) and a CUDA
implementation compiled lazily with ninja; `impl='auto'` picks CUDA for CUDA tensors when the
build works and falls back to the reference otherwise. `SGT_OPS_IMPL=ref` forces the reference."""
from stylegan.ops.bias_act import bias_act, activation_funcs
from stylegan.ops.upfirdn2d import upfirdn2d, upsample2d, downsample2d, filter2d, setup_filter
from stylegan.ops.modconv import modulated_conv2d, conv2d_resample

__all__ = [
    "bias_act", "activation_funcs", "upfirdn2d", "upsample2d", "downsample2d", "filter2d",
    "setup_filter", "modulated_conv2d", "conv2d_resample",
]
